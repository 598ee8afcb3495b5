// Fusion dashboard: small SVG charts drawn in the page (no library): stacked bars over time
// and horizontal timing bars, each with a title, a legend and the numbers as a table for
// people who do not see the chart.
'use strict';

const Charts = (() => {
  const { el, svg } = Fusion;
  const PALETTE = ['#2b6cb0', '#dd6b20', '#2f855a', '#c53030', '#6b46c1', '#b7791f', '#00a3c4',
    '#d53f8c', '#4a5568', '#38a169', '#805ad5', '#e53e3e'];

  function colour(i) {
    return PALETTE[i % PALETTE.length];
  }

  /** A legend: one swatch and name per key. */
  function legend(keys, id) {
    return el('ul', { class: 'legend', id, 'aria-label': 'Legend' },
      keys.map((key, i) => el('li', {}, swatch(colour(i)), key)));
  }

  function swatch(fill) {
    const box = svg('svg', { class: 'swatch', viewBox: '0 0 10 10', 'aria-hidden': 'true' },
      svg('rect', { width: 10, height: 10, fill }));
    return box;
  }

  /** Tick values for an axis from 0 to `max`: 4 or 5 round steps. */
  function ticks(max) {
    if (!(max > 0)) return [0];
    const raw = max / 4;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
    if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
    return out;
  }

  /**
   * Stacked bars: one bar per bucket, one segment per series.
   * `spec`: {id, title, buckets: [label], series: [{key, values: [number]}], format: (n) => text}
   */
  function stacked(spec) {
    const width = 900; const height = 260;
    const left = 70; const right = 10; const top = 12; const bottom = 44;
    const plotW = width - left - right; const plotH = height - top - bottom;
    const n = spec.buckets.length;
    const totals = spec.buckets.map((_, b) => spec.series.reduce((sum, s) => sum + (Number(s.values[b]) || 0), 0));
    const axis = ticks(Math.max(0, ...totals));
    const max = axis[axis.length - 1] || 1;
    const y = (v) => top + plotH - (v / max) * plotH;
    const slot = n ? plotW / n : plotW;
    const barW = Math.max(1, Math.min(48, slot * 0.7));
    const titleId = `${spec.id}-title`;
    const chart = svg('svg', {
      class: 'chart', id: spec.id, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': titleId,
    }, svg('title', { id: titleId, text: spec.title }));
    for (const v of axis) {
      chart.append(svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: y(v), y2: y(v) }),
        svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', text: spec.format(v) }));
    }
    chart.append(svg('line', { class: 'axis', x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
    const labelEvery = Math.max(1, Math.ceil(n / 12));
    spec.buckets.forEach((bucket, b) => {
      const x = left + slot * b + (slot - barW) / 2;
      let base = 0;
      spec.series.forEach((s, i) => {
        const v = Number(s.values[b]) || 0;
        if (v <= 0) return;
        chart.append(svg('rect', { x, y: y(base + v), width: barW, height: Math.max(0.5, y(base) - y(base + v)), fill: colour(i) },
          svg('title', { text: `${bucket} · ${s.key}: ${spec.format(v)}` })));
        base += v;
      });
      if (b % labelEvery === 0) {
        chart.append(svg('text', { x: x + barW / 2, y: top + plotH + 16, 'text-anchor': 'middle', text: bucket.slice(5) || bucket }));
      }
    });
    if (!n || !totals.some((t) => t > 0)) {
      chart.append(svg('text', { x: left + plotW / 2, y: top + plotH / 2, 'text-anchor': 'middle', text: 'Nothing in this window' }));
    }
    return el('figure', { class: 'figure', id: `${spec.id}-figure` },
      chart, legend(spec.series.map((s) => s.key), `${spec.id}-legend`),
      dataTable(spec));
  }

  /** The chart's numbers as a table, folded. */
  function dataTable(spec) {
    const head = el('tr', {}, el('th', { scope: 'col', text: 'Day' }), spec.series.map((s) => el('th', { scope: 'col', class: 'num', text: s.key })));
    const rows = spec.buckets.map((bucket, b) => el('tr', {}, el('th', { scope: 'row', text: bucket }),
      spec.series.map((s) => el('td', { class: 'num', text: spec.format(Number(s.values[b]) || 0) }))));
    return el('details', {}, el('summary', { text: `${spec.title}: the numbers` }),
      el('div', { class: 'table-wrap' }, el('table', { id: `${spec.id}-table` }, el('thead', {}, head), el('tbody', {}, rows))));
  }

  /**
   * Horizontal bars on a time axis (a waterfall): `rows`: [{label, start, end, kind}] in ms.
   */
  function waterfall(spec) {
    const width = 900; const rowH = 26; const left = 190; const right = 20; const top = 10; const bottom = 34;
    const height = top + bottom + rowH * Math.max(1, spec.rows.length);
    const max = Math.max(1, ...spec.rows.map((r) => r.end), spec.total || 0);
    const axis = ticks(max);
    const end = axis[axis.length - 1] || 1;
    const x = (ms) => left + (ms / end) * (width - left - right);
    const titleId = `${spec.id}-title`;
    const chart = svg('svg', {
      class: 'chart', id: spec.id, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': titleId,
    }, svg('title', { id: titleId, text: spec.title }));
    for (const v of axis) {
      chart.append(svg('line', { class: 'grid-line', x1: x(v), x2: x(v), y1: top, y2: height - bottom }),
        svg('text', { x: x(v), y: height - bottom + 16, 'text-anchor': 'middle', text: Fusion.duration(v) }));
    }
    const kinds = [...new Set(spec.rows.map((r) => r.kind))];
    spec.rows.forEach((row, i) => {
      const yTop = top + i * rowH;
      chart.append(svg('text', { x: left - 8, y: yTop + rowH / 2 + 4, 'text-anchor': 'end', text: row.label }));
      chart.append(svg('rect', {
        x: x(row.start), y: yTop + 4, width: Math.max(1, x(row.end) - x(row.start)), height: rowH - 8,
        fill: colour(kinds.indexOf(row.kind)), rx: 3,
      }, svg('title', { text: `${row.label}: ${Fusion.duration(row.end - row.start)} (from ${Fusion.duration(row.start)})` })));
    });
    if (spec.total) {
      chart.append(svg('line', { x1: x(spec.total), x2: x(spec.total), y1: top, y2: height - bottom, stroke: '#c53030', 'stroke-width': 1.5 },
        svg('title', { text: `total ${Fusion.duration(spec.total)}` })));
    }
    const table = el('table', { id: `${spec.id}-table` },
      el('thead', {}, el('tr', {}, ['Step', 'Starts', 'Ends', 'Takes'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, spec.rows.map((r) => el('tr', {}, el('th', { scope: 'row', text: r.label }),
        el('td', { class: 'num', text: Fusion.duration(r.start) }), el('td', { class: 'num', text: Fusion.duration(r.end) }),
        el('td', { class: 'num', text: Fusion.duration(r.end - r.start) })))));
    return el('figure', { class: 'figure', id: `${spec.id}-figure` }, chart, legend(kinds, `${spec.id}-legend`),
      el('details', {}, el('summary', { text: `${spec.title}: the numbers` }), el('div', { class: 'table-wrap' }, table)));
  }

  return { colour, legend, stacked, waterfall, ticks };
})();
