// Reads a Server-Sent Events stream (what `GET /events` sends) from a fetch Response body: the
// client side for `covey kv watch`, `covey telemetry echo|hz` and the tests. Follows the
// WHATWG parsing rules that the agent's frames use: `event:` and `data:` fields, multi-line data
// joined by newlines, comment lines (`:`) skipped, a blank line ends an event.

export interface SseMessage {
  /** The `event:` field ('message' when absent). */
  readonly event: string;
  readonly data: string;
}

/** A frame larger than this is refused: the agent's frames are far smaller (telemetry is capped at 64 KiB). */
const frameCharsMax = 4 * 1024 * 1024;

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (buffer.length > frameCharsMax) throw new Error(`an event-stream line is over ${frameCharsMax} characters; is this a Covey agent's /events?`);
    let nl: number;
    while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event: event === '' ? 'message' : event, data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
}
