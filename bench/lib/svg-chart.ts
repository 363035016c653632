// Hand-written SVG charts (no chart library): grouped bars and lines, with axes, tick labels, value labels and a
// legend per panel. Several panels share one SVG file, laid out in a grid. The output is plain SVG 1.1 that any
// browser, GitHub's file viewer or an image viewer renders.

export interface BarSeries {
  name: string;
  color: string;
  /** One value per category; null draws no bar (e.g. a client that was not run). */
  values: (number | null)[];
}

export interface BarPanel {
  kind: 'bars';
  title: string;
  /** Y axis label, with its unit. */
  yLabel: string;
  categories: string[];
  series: BarSeries[];
  /** Log scale helps when values span decades (saturated vs unsaturated latencies). */
  scale?: 'linear' | 'log';
  /** Decimals of the value printed on each bar. */
  decimals?: number;
  /** A horizontal line, e.g. a goal. */
  reference?: { value: number; label: string };
}

export interface LineSeries {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
}

export interface LinePanel {
  kind: 'lines';
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** Vertical lines at x, labelled (flip times, phases). */
  markers?: { x: number; label: string; color?: string }[];
  scale?: 'linear' | 'log';
}

export type Panel = BarPanel | LinePanel;

export interface ChartSpec {
  title: string;
  subtitle?: string;
  panels: Panel[];
  /** Panels per row (default: 2). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

export const COLORS = {
  direct: '#4e79a7',
  directLight: '#a0cbe8',
  proxy: '#f28e2b',
  proxyLight: '#ffbe7d',
  green: '#59a14f',
  red: '#e15759',
  purple: '#b07aa1',
  grey: '#79706e',
  /** The bare pipe (throughput's physical-limit reference). */
  pipe: '#76b7b2',
  pipeLight: '#c2e3e0',
} as const;

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** "Nice" step for about `count` ticks over [0, max]: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 2.5 ? 2.5 : unit <= 5 ? 5 : 10;
  return nice * power;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${num(v / 1e6)}M`;
  if (abs >= 1e4) return `${num(v / 1e3)}k`;
  if (abs >= 1) return Number.isInteger(v) ? v.toString() : v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(2).replace(/0+$/, '');
}

interface Scale {
  /** Maps a value to a y pixel (top = max). */
  y(v: number): number;
  ticks: number[];
}

function makeScale(kind: 'linear' | 'log', values: number[], top: number, bottom: number): Scale {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  if (kind === 'log' && positive.length > 0) {
    const lo = Math.floor(Math.log10(Math.min(...positive)));
    let hi = Math.ceil(Math.log10(Math.max(...positive)));
    if (hi === lo) hi = lo + 1;
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { ticks, y: (v) => (v <= 0 ? bottom : bottom - ((Math.log10(v) - lo) / (hi - lo)) * (bottom - top)) };
  }
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  const step = niceStep(max > 0 ? max : 1, 5);
  const top_ = Math.ceil((max > 0 ? max : 1) / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top_ + step / 2; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
  return { ticks, y: (v) => bottom - (Math.max(0, v) / top_) * (bottom - top) };
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function legend(items: { name: string; color: string; dashed?: boolean }[], x: number, y: number, maxWidth: number): string {
  const out: string[] = [];
  let cx = x;
  let cy = y;
  for (const item of items) {
    const width = 22 + item.name.length * 6.2 + 14;
    if (cx + width > x + maxWidth && cx > x) {
      cx = x;
      cy += 15;
    }
    out.push(item.dashed
      ? `<line x1="${num(cx)}" y1="${num(cy - 4)}" x2="${num(cx + 16)}" y2="${num(cy - 4)}" stroke="${item.color}" stroke-width="2.5" stroke-dasharray="4 2"/>`
      : `<rect x="${num(cx)}" y="${num(cy - 9)}" width="16" height="10" fill="${item.color}"/>`);
    out.push(`<text x="${num(cx + 21)}" y="${num(cy)}" font-size="11" ${FONT} fill="#333">${esc(item.name)}</text>`);
    cx += width;
  }
  return out.join('\n');
}

function axes(box: Box, scale: Scale, yLabel: string, plotTop: number, plotBottom: number, plotLeft: number, plotRight: number): string {
  const out: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.y(t);
    out.push(`<line x1="${num(plotLeft)}" y1="${num(y)}" x2="${num(plotRight)}" y2="${num(y)}" stroke="#e4e4e4" stroke-width="1"/>`);
    out.push(`<text x="${num(plotLeft - 6)}" y="${num(y + 3.5)}" font-size="10" text-anchor="end" ${FONT} fill="#555">${esc(formatTick(t))}</text>`);
  }
  out.push(`<line x1="${num(plotLeft)}" y1="${num(plotTop)}" x2="${num(plotLeft)}" y2="${num(plotBottom)}" stroke="#333" stroke-width="1"/>`);
  out.push(`<line x1="${num(plotLeft)}" y1="${num(plotBottom)}" x2="${num(plotRight)}" y2="${num(plotBottom)}" stroke="#333" stroke-width="1"/>`);
  const cy = (plotTop + plotBottom) / 2;
  out.push(`<text x="${num(box.x + 13)}" y="${num(cy)}" font-size="11" text-anchor="middle" transform="rotate(-90 ${num(box.x + 13)} ${num(cy)})" ${FONT} fill="#333">${esc(yLabel)}</text>`);
  return out.join('\n');
}

function barPanel(p: BarPanel, box: Box): string {
  const out: string[] = [];
  out.push(`<text x="${num(box.x + box.w / 2)}" y="${num(box.y + 16)}" font-size="13" font-weight="bold" text-anchor="middle" ${FONT} fill="#222">${esc(p.title)}</text>`);
  out.push(legend(p.series.map((s) => ({ name: s.name, color: s.color })), box.x + 60, box.y + 34, box.w - 70));
  const legendRows = Math.ceil(p.series.reduce((w, s) => w + 36 + s.name.length * 6.2, 0) / (box.w - 70));
  const plotTop = box.y + 40 + legendRows * 15;
  const plotBottom = box.y + box.h - 28;
  const plotLeft = box.x + 58;
  const plotRight = box.x + box.w - 10;
  const values = p.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  if (p.reference) values.push(p.reference.value);
  const scale = makeScale(p.scale ?? 'linear', values, plotTop + 12, plotBottom);
  out.push(axes(box, scale, p.yLabel, plotTop, plotBottom, plotLeft, plotRight));
  if (p.reference) {
    const ry = scale.y(p.reference.value);
    out.push(`<line x1="${num(plotLeft)}" y1="${num(ry)}" x2="${num(plotRight)}" y2="${num(ry)}" stroke="${COLORS.red}" stroke-width="1.2" stroke-dasharray="6 3"/>`);
    out.push(`<text x="${num(plotLeft + 4)}" y="${num(ry - 4)}" font-size="10" ${FONT} fill="${COLORS.red}">${esc(p.reference.label)}</text>`);
  }
  const groupWidth = (plotRight - plotLeft) / Math.max(1, p.categories.length);
  const barWidth = Math.min(48, (groupWidth * 0.8) / Math.max(1, p.series.length));
  const decimals = p.decimals ?? 1;
  p.categories.forEach((category, ci) => {
    const groupLeft = plotLeft + ci * groupWidth + (groupWidth - barWidth * p.series.length) / 2;
    p.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = groupLeft + si * barWidth;
      const y = scale.y(v);
      out.push(`<rect x="${num(x + 1)}" y="${num(y)}" width="${num(barWidth - 2)}" height="${num(Math.max(0, plotBottom - y))}" fill="${s.color}"><title>${esc(`${category} · ${s.name}: ${v}`)}</title></rect>`);
      const label = v.toLocaleString('en-US', { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
      const cx = x + barWidth / 2;
      if (barWidth < label.length * 5.6 + 4) {
        // Too narrow for a horizontal label: write it upwards from just above the bar.
        out.push(`<text x="${num(cx + 3)}" y="${num(y - 3)}" font-size="9" transform="rotate(-90 ${num(cx + 3)} ${num(y - 3)})" ${FONT} fill="#333">${esc(label)}</text>`);
      } else {
        out.push(`<text x="${num(cx)}" y="${num(y - 3)}" font-size="9" text-anchor="middle" ${FONT} fill="#333">${esc(label)}</text>`);
      }
    });
    out.push(`<text x="${num(plotLeft + ci * groupWidth + groupWidth / 2)}" y="${num(plotBottom + 16)}" font-size="11" text-anchor="middle" ${FONT} fill="#222">${esc(category)}</text>`);
  });
  return out.join('\n');
}

function linePanel(p: LinePanel, box: Box): string {
  const out: string[] = [];
  out.push(`<text x="${num(box.x + box.w / 2)}" y="${num(box.y + 16)}" font-size="13" font-weight="bold" text-anchor="middle" ${FONT} fill="#222">${esc(p.title)}</text>`);
  out.push(legend(p.series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })), box.x + 60, box.y + 34, box.w - 70));
  const legendRows = Math.ceil(p.series.reduce((w, s) => w + 36 + s.name.length * 6.2, 0) / (box.w - 70));
  const plotTop = box.y + 40 + legendRows * 15;
  const plotBottom = box.y + box.h - 34;
  const plotLeft = box.x + 58;
  const plotRight = box.x + box.w - 12;
  const ys = p.series.flatMap((s) => s.points.map((pt) => pt[1]));
  const xs = [...p.series.flatMap((s) => s.points.map((pt) => pt[0])), ...(p.markers ?? []).map((m) => m.x)];
  const scale = makeScale(p.scale ?? 'linear', ys, plotTop + 12, plotBottom);
  out.push(axes(box, scale, p.yLabel, plotTop, plotBottom, plotLeft, plotRight));
  const xMin = xs.length > 0 ? Math.min(0, ...xs) : 0;
  const xMaxRaw = xs.length > 0 ? Math.max(...xs) : 1;
  const xStep = niceStep(Math.max(1e-9, xMaxRaw - xMin), 8);
  const xMax = xMin + Math.ceil((xMaxRaw - xMin) / xStep) * xStep || 1;
  const x = (v: number): number => plotLeft + ((v - xMin) / (xMax - xMin)) * (plotRight - plotLeft);
  for (let t = xMin; t <= xMax + xStep / 2; t += xStep) {
    out.push(`<line x1="${num(x(t))}" y1="${num(plotBottom)}" x2="${num(x(t))}" y2="${num(plotBottom + 4)}" stroke="#333"/>`);
    out.push(`<text x="${num(x(t))}" y="${num(plotBottom + 15)}" font-size="10" text-anchor="middle" ${FONT} fill="#555">${esc(formatTick(Math.round(t * 1e6) / 1e6))}</text>`);
  }
  out.push(`<text x="${num((plotLeft + plotRight) / 2)}" y="${num(plotBottom + 29)}" font-size="11" text-anchor="middle" ${FONT} fill="#333">${esc(p.xLabel)}</text>`);
  (p.markers ?? []).forEach((m, i) => {
    const mx = x(m.x);
    const color = m.color ?? COLORS.grey;
    out.push(`<line x1="${num(mx)}" y1="${num(plotTop)}" x2="${num(mx)}" y2="${num(plotBottom)}" stroke="${color}" stroke-width="1" stroke-dasharray="3 3"/>`);
    // Alternate label heights so neighbouring markers do not overprint each other.
    const ly = plotTop + 4 + (i % 2) * 11;
    out.push(`<text x="${num(mx + 3)}" y="${num(ly + 6)}" font-size="9" ${FONT} fill="${color}">${esc(m.label)}</text>`);
  });
  for (const s of p.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((pt, i) => `${i === 0 ? 'M' : 'L'}${num(x(pt[0]))},${num(scale.y(pt[1]))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
  }
  return out.join('\n');
}

export function renderChart(spec: ChartSpec): string {
  const columns = Math.max(1, Math.min(spec.columns ?? 2, spec.panels.length));
  const pw = spec.panelWidth ?? 480;
  const ph = spec.panelHeight ?? 320;
  const header = spec.subtitle ? 54 : 36;
  const rows = Math.ceil(spec.panels.length / columns);
  const width = columns * pw + 20;
  const height = header + rows * ph + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" font-size="16" font-weight="bold" text-anchor="middle" ${FONT} fill="#111">${esc(spec.title)}</text>`,
  ];
  if (spec.subtitle) parts.push(`<text x="${width / 2}" y="42" font-size="11" text-anchor="middle" ${FONT} fill="#555">${esc(spec.subtitle)}</text>`);
  spec.panels.forEach((panel, i) => {
    const box = { x: 10 + (i % columns) * pw, y: header + Math.floor(i / columns) * ph, w: pw, h: ph };
    parts.push(`<g>`);
    parts.push(panel.kind === 'bars' ? barPanel(panel, box) : linePanel(panel, box));
    parts.push(`</g>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
