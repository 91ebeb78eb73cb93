// The simulation report as one self-contained HTML file: the run's data (data.ts) embedded as
// JSON, the page's script and style (page.js, page.css beside this file) and uPlot's (from the
// uplot package) inlined, so the file opens anywhere, offline, with no CDN.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ReportData } from './data.ts';

const dataElementId = 'covey-report-data';

function asset(name: string): string {
  return readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
}

function uplotAsset(file: string): string {
  return readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`), 'utf8');
}

/** JSON that cannot end its <script> element early: every '<' is escaped (still valid JSON). */
function embeddable(data: ReportData): string {
  return JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Text for an HTML text node or attribute. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderReport(data: ReportData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="covey sim --report">
<title>covey sim: ${escapeHtml(data.title)}</title>
<style>${uplotAsset('uPlot.min.css')}</style>
<style>${asset('page.css')}</style>
</head>
<body>
<noscript>This report draws its charts with JavaScript; the run's data is in the script element ${dataElementId}.</noscript>
<main id="report"></main>
<script type="application/json" id="${dataElementId}">${embeddable(data)}</script>
<script>${uplotAsset('uPlot.iife.min.js')}</script>
<script>${asset('page.js')}</script>
</body>
</html>
`;
}

/** The data embedded in a report file (for tests and tools). */
export function reportDataOf(html: string): ReportData {
  const m = new RegExp(`<script type="application/json" id="${dataElementId}">([^<]*)</script>`).exec(html);
  if (m === null) throw new Error(`not a covey sim report: no <script id="${dataElementId}"> element`);
  return JSON.parse(m[1]) as ReportData;
}
