// One run's PluginContext: the plugin API over a PluginEnvironment, with the plugin's
// capabilities enforced at every call and everything it starts (timers, subscriptions, watches)
// tracked, so the host can release it all when the run ends. A callback that throws, rejects, or
// does not settle in time reports a fault to the host, which fails the run and restarts it.

import type { z } from 'zod';
import type { Device, DeviceKind } from '../../devices/types.ts';
import type { CommandResult, Operation, TaskView } from '../../consensus/index.ts';
import {
  CapabilityError, PluginStoppedError,
  type Cancel, type DevicesApi, type KvApi, type MembershipApi, type PluginContext, type PluginDefinition,
  type TaskClaim, type TaskOutcome, type TasksApi, type TelemetryApi, type Topic,
} from './api.ts';
import { listingServedByVoters, type PluginEnvironment } from './environment.ts';
import { kvChanges, listKeys, listLimit, pluginListLimitMax, taskMatches } from './listing.ts';

/** Largest telemetry message, JSON-encoded (gossipsub's default max is 1 MiB; telemetry is small). */
export const telemetryBytesMax = 64 * 1024;

export interface RunOptions {
  /** A timer callback or subscriber still running after this long counts as hung. */
  readonly callbackTimeoutMs: number;
  /** Told once, with the first fault of this run. */
  readonly onFault: (err: Error) => void;
}

/** A context plus the handle the host keeps to end its run. */
export interface PluginRun<O> {
  readonly ctx: PluginContext<O>;
  /** Aborts the signal and releases every timer, subscription and watch of the run (its stop hook may still use the API). */
  end(): void;
  /** After the stop hook: every further API call rejects with PluginStoppedError. */
  close(): void;
  /** Telemetry messages dropped because they failed the topic's schema or were not JSON. */
  readonly dropped: { count: number };
}

export function createRun<O>(def: PluginDefinition<O, unknown>, options: O, env: PluginEnvironment, o: RunOptions): PluginRun<O> {
  const name = def.name;
  const caps = def.capabilities;
  const controller = new AbortController();
  const cancels = new Set<Cancel>();
  const dropped = { count: 0 };
  const log = env.logger(name);
  let faulted = false;
  let closed = false;

  const fault = (err: unknown): void => {
    if (faulted || controller.signal.aborted) return;
    faulted = true;
    o.onFault(err instanceof Error ? err : new Error(String(err)));
  };
  const alive = (): void => {
    if (closed) throw new PluginStoppedError(name);
  };
  /** Timers, subscriptions and watches may only be made while the run is on (not in the stop hook). */
  const running = (): void => {
    if (controller.signal.aborted) throw new PluginStoppedError(name);
  };
  const track = (c: Cancel): Cancel => {
    let done = false;
    const cancel = (): void => {
      if (done) return;
      done = true;
      cancels.delete(cancel);
      c();
    };
    cancels.add(cancel);
    return cancel;
  };

  /** Runs a plugin callback: a throw, a rejection or a hang past the limit is a fault of the run. */
  const guard = (what: string, fn: () => void | Promise<void>, onSettled?: () => void): void => {
    if (controller.signal.aborted) return;
    let result: void | Promise<void>;
    try {
      result = fn();
    } catch (err) {
      onSettled?.();
      fault(err);
      return;
    }
    if (!(result instanceof Promise)) { onSettled?.(); return; }
    let settled = false;
    const hang = env.timers.after(o.callbackTimeoutMs, () => {
      if (!settled) fault(new Error(`${what} did not finish within ${o.callbackTimeoutMs} ms (the plugin is not answering)`));
    });
    result.then(
      () => { settled = true; hang(); onSettled?.(); },
      (err: unknown) => { settled = true; hang(); onSettled?.(); fault(err); },
    );
  };

  // ---- capabilities ------------------------------------------------------------------------

  const needPrefix = (kind: 'kv' | 'tasks', what: string): void => {
    const prefixes = caps[kind] ?? [];
    if (!prefixes.some((p) => what.startsWith(p))) {
      const label = kind === 'kv' ? 'key' : 'task id';
      throw new CapabilityError(name, `${kind}:${what}`, `${label} ${JSON.stringify(what)} is outside its declared ${kind} prefixes [${prefixes.map((p) => JSON.stringify(p)).join(', ')}]; add a prefix covering it to capabilities.${kind} in definePlugin`);
    }
  };
  /** A listing's prefix must lie inside one declared prefix: a plugin lists only what it may read. */
  const needListPrefix = (kind: 'kv' | 'tasks', prefix: string): void => {
    if (typeof prefix !== 'string') throw new TypeError(`plugin "${name}": a ${kind} listing's prefix must be a string, got ${typeof prefix}`);
    needPrefix(kind, prefix);
  };
  const needTopic = (topic: string): void => {
    const topics = caps.topics ?? [];
    if (!topics.includes(topic)) {
      throw new CapabilityError(name, `topic:${topic}`, `topic ${JSON.stringify(topic)} is not among its declared topics [${topics.map((t) => JSON.stringify(t)).join(', ')}]; add it to capabilities.topics in definePlugin`);
    }
  };
  const mayUseDevice = (d: Device): boolean => (caps.devices ?? []).some((c) => c === d.id || c === `kind:${d.kind}`);

  // ---- consensus ---------------------------------------------------------------------------

  const submit = async (op: Operation): Promise<CommandResult> => {
    alive();
    return env.submit(op);
  };
  const mustSucceed = (r: CommandResult, what: string): CommandResult => {
    if (!r.ok) throw new Error(`${what}: ${r.error}`);
    return r;
  };

  const kv: KvApi = {
    async get(key) {
      needPrefix('kv', key);
      const r = mustSucceed(await submit({ op: 'get', key }), `kv get ${JSON.stringify(key)}`);
      return r.ok ? (r.value ?? null) : null;
    },
    async getStale(key) {
      needPrefix('kv', key);
      alive();
      return env.staleGet(key);
    },
    async put(key, value) {
      needPrefix('kv', key);
      mustSucceed(await submit({ op: 'put', key, value }), `kv put ${JSON.stringify(key)}`);
    },
    async delete(key) {
      needPrefix('kv', key);
      mustSucceed(await submit({ op: 'delete', key }), `kv delete ${JSON.stringify(key)}`);
    },
    async cas(key, expected, value) {
      needPrefix('kv', key);
      const r = mustSucceed(await submit({ op: 'cas', key, expected, value }), `kv cas ${JSON.stringify(key)}`);
      return r.ok && r.swapped === true;
    },
    async list(prefix, options) {
      needListPrefix('kv', prefix);
      const limit = listLimit(name, options?.limit);
      alive();
      return listKeys(env, prefix, limit);
    },
    watch(prefix, fn, options) {
      needListPrefix('kv', prefix);
      running();
      // A worker holds no state: say so now rather than retry a read that can never succeed.
      if (env.role === 'worker') throw listingServedByVoters(env.agentId, 'kv.watch');
      const intervalMs = options?.intervalMs ?? 1000;
      if (!(intervalMs > 0)) throw new RangeError(`plugin "${name}": kv.watch intervalMs must be > 0, got ${intervalMs}`);
      let last = new Map<string, string>();
      let busy = false;
      let warned = false;
      const poll = (): void => {
        if (busy) return;
        busy = true;
        listKeys(env, prefix, pluginListLimitMax).then((listing) => {
          if (listing.truncated && !warned) {
            warned = true;
            log.warn({ prefix, keysMax: pluginListLimitMax }, `kv.watch(${JSON.stringify(prefix)}): more than ${pluginListLimitMax} keys under the prefix; only the first are watched (watch a narrower prefix)`);
          }
          const changes = kvChanges(last, listing.value);
          last = new Map(listing.value.map((e) => [e.key, e.value]));
          if (changes.length === 0) { busy = false; return; }
          guard(`kv.watch(${JSON.stringify(prefix)}) callback`, async () => {
            for (const c of changes) await fn(c);
          }, () => { busy = false; });
        }, () => { busy = false; }); // not readable now (stopping, a replica restoring): try again at the next poll
      };
      const stop = track(env.timers.every(intervalMs, poll));
      poll();
      return stop;
    },
  };

  const worker = env.agentId;
  const outcome = <T>(r: CommandResult, value: (t: TaskView) => T): TaskOutcome<T> => {
    if (r.ok && r.task !== undefined) return { ok: true, value: value(r.task), task: r.task };
    if (r.ok) return { ok: false, error: 'the task board answered without the task' };
    return r.task === undefined ? { ok: false, error: r.error } : { ok: false, error: r.error, task: r.task };
  };
  const claimOf = (t: TaskView): TaskClaim => ({ taskId: t.taskId, token: t.token, leaseExpiresMs: t.leaseExpiresMs });

  const getTask = async (taskId: string): Promise<TaskView | null> => {
    const r = await submit({ op: 'task.get', taskId });
    return r.task ?? null;
  };

  const tasks: TasksApi = {
    async create(taskId, spec) {
      needPrefix('tasks', taskId);
      return outcome(await submit({ op: 'task.create', taskId, spec }), (t) => t);
    },
    async claim(taskId, leaseMs) {
      needPrefix('tasks', taskId);
      return outcome(await submit({ op: 'task.claim', taskId, worker, leaseMs }), claimOf);
    },
    async renew(claim, leaseMs) {
      needPrefix('tasks', claim.taskId);
      return outcome(await submit({ op: 'task.renew', taskId: claim.taskId, worker, token: claim.token, leaseMs }), claimOf);
    },
    async complete(claim, result) {
      needPrefix('tasks', claim.taskId);
      return outcome(await submit({ op: 'task.complete', taskId: claim.taskId, worker, token: claim.token, result }), (t) => t);
    },
    async release(claim) {
      needPrefix('tasks', claim.taskId);
      return outcome(await submit({ op: 'task.release', taskId: claim.taskId, worker, token: claim.token }), (t) => t);
    },
    async get(taskId) {
      needPrefix('tasks', taskId);
      return getTask(taskId);
    },
    async list(filter = {}) {
      if (filter.prefix !== undefined) needListPrefix('tasks', filter.prefix);
      else if ((caps.tasks ?? []).length === 0) throw new CapabilityError(name, 'tasks', 'it declared no task id prefixes; add the prefixes of the tasks it lists to capabilities.tasks in definePlugin');
      const limit = listLimit(name, filter.limit);
      alive();
      const board = await env.staleTasks();
      const covered = (id: string): boolean => (caps.tasks ?? []).some((p) => id.startsWith(p));
      const matching = board.value.filter((t) => covered(t.taskId) && taskMatches(t, filter));
      return { value: matching.slice(0, limit), truncated: matching.length > limit, stale: true, staleness: board.staleness };
    },
    watch(taskId, fn, options) {
      needPrefix('tasks', taskId);
      running();
      const intervalMs = options?.intervalMs ?? 1000;
      let last: string | undefined;
      let busy = false;
      const poll = (): void => {
        if (busy) return;
        busy = true;
        getTask(taskId).then((t) => {
          busy = false;
          const seen = JSON.stringify(t);
          if (seen === last) return;
          last = seen;
          guard(`tasks.watch(${JSON.stringify(taskId)}) callback`, () => fn(t));
        }, () => { busy = false; }); // unavailable: try again at the next poll
      };
      const stop = track(env.timers.every(intervalMs, poll));
      poll();
      return stop;
    },
  };

  // ---- telemetry ---------------------------------------------------------------------------

  const telemetry: TelemetryApi = {
    topic<S extends z.ZodType>(topicName: string, schema: S): Topic<z.output<S>> {
      needTopic(topicName);
      env.declareTopic?.(topicName, schema);
      return {
        name: topicName,
        async publish(value) {
          alive();
          const checked = schema.safeParse(value);
          if (!checked.success) throw new TypeError(`telemetry ${JSON.stringify(topicName)}: the value does not match the topic's schema: ${checked.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}`);
          const data = new TextEncoder().encode(JSON.stringify(checked.data));
          if (data.length > telemetryBytesMax) throw new RangeError(`telemetry ${JSON.stringify(topicName)}: ${data.length} bytes is over the ${telemetryBytesMax}-byte limit; publish less per message`);
          await env.publish(topicName, data);
        },
        subscribe(fn) {
          running();
          return track(env.subscribe(topicName, (data, from) => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(new TextDecoder().decode(data));
            } catch {
              dropped.count++;
              env.telemetryDropped?.(topicName);
              return;
            }
            const checked = schema.safeParse(parsed);
            if (!checked.success) { dropped.count++; env.telemetryDropped?.(topicName); return; }
            guard(`telemetry ${JSON.stringify(topicName)} subscriber`, () => fn(checked.data, from));
          }));
        },
      };
    },
  };

  // ---- membership, devices ------------------------------------------------------------------

  const needMembership = (): void => {
    if (caps.membership !== true) throw new CapabilityError(name, 'membership', 'it did not declare membership; set capabilities.membership: true in definePlugin');
  };
  const membership: MembershipApi = {
    members() {
      needMembership();
      return env.members();
    },
    on(fn) {
      needMembership();
      running();
      return track(env.onMemberChange((change) => guard('membership listener', () => fn(change))));
    },
  };

  const device = <D extends Device>(deviceName: string, kinds: readonly DeviceKind[]): D => {
    const d = env.devices.get(deviceName);
    if (d === undefined) {
      const known = [...env.devices.keys()];
      throw new Error(`plugin "${name}": no device named ${JSON.stringify(deviceName)} on this agent (configured: ${known.length === 0 ? 'none' : known.join(', ')}); add it under devices: in the agent config`);
    }
    if (!mayUseDevice(d)) {
      throw new CapabilityError(name, `device:${deviceName}`, `device ${JSON.stringify(deviceName)} (${d.kind}) is not among its declared devices [${(caps.devices ?? []).join(', ')}]; add "${deviceName}" or "kind:${d.kind}" to capabilities.devices in definePlugin`);
    }
    if (!kinds.includes(d.kind)) throw new TypeError(`plugin "${name}": device ${JSON.stringify(deviceName)} is a ${d.kind}, not a ${kinds.join(' or ')}`);
    return d as D;
  };
  const devices: DevicesApi = {
    list() {
      return [...env.devices.values()].filter(mayUseDevice).map((d) => ({ name: d.id, kind: d.kind, status: d.status }));
    },
    autopilot: (n) => device(n, ['autopilot']),
    sensor: (n) => device(n, ['sensor', 'battery']),
    actuator: (n) => device(n, ['actuator']),
    battery: (n) => device(n, ['battery']),
    find(kind) {
      for (const d of env.devices.values()) if (d.kind === kind && mayUseDevice(d)) return d;
      return undefined;
    },
  };

  // ---- time --------------------------------------------------------------------------------

  const every = (ms: number, fn: () => void | Promise<void>): Cancel => {
    running();
    if (!(ms > 0)) throw new RangeError(`plugin "${name}": every(ms) needs ms > 0, got ${ms}`);
    let busy = false; // a slow async callback is not started again until it settles
    return track(env.timers.every(ms, () => {
      if (busy) return;
      busy = true;
      guard(`every(${ms}) callback`, fn, () => { busy = false; });
    }));
  };
  const after = (ms: number, fn: () => void | Promise<void>): Cancel => {
    running();
    return track(env.timers.after(ms, () => guard(`after(${ms}) callback`, fn)));
  };
  const sleep = (ms: number): Promise<void> => new Promise((resolve, reject) => {
    if (controller.signal.aborted) { reject(new PluginStoppedError(name)); return; }
    const onAbort = (): void => { cancel(); reject(new PluginStoppedError(name)); };
    const cancel = track(env.timers.after(ms, () => { controller.signal.removeEventListener('abort', onAbort); resolve(); }));
    controller.signal.addEventListener('abort', onAbort, { once: true });
  });

  const spawn = (what: string, fn: () => Promise<void>): void => {
    running();
    Promise.resolve().then(fn).then(() => {}, (err: unknown) => {
      if (err instanceof PluginStoppedError || controller.signal.aborted) return; // ended with the run
      fault(err instanceof Error ? new Error(`${what}: ${err.message}`, { cause: err }) : new Error(`${what}: ${String(err)}`));
    });
  };

  const ctx: PluginContext<O> = {
    plugin: { name, version: def.version },
    // The role as it is now: a worker may be promoted to voter while its plugins run.
    agent: { id: env.agentId, get role() { return env.role; } },
    options,
    log,
    clock: { now: () => env.wallClock() },
    every, after, sleep, spawn,
    random: () => env.random(),
    signal: controller.signal,
    kv, tasks, telemetry, membership, devices,
    store: env.store(name),
  };

  return {
    ctx,
    dropped,
    end() {
      if (!controller.signal.aborted) controller.abort(new PluginStoppedError(name));
      for (const c of [...cancels]) c();
    },
    close() {
      closed = true;
    },
  };
}
