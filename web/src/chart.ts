// Stacked area charts on uPlot. uPlot has no stacking of its own: each series
// is drawn as the cumulative sum of itself and those below it, topmost first,
// so every fill covers only its own band; legends and tooltips show the raw
// value. Clicking a band reports the series under the pointer (drill-down).
import uPlot from "uplot";

const COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

export function color(i: number): string {
  return COLORS[i % COLORS.length]!;
}

/** Local-time tick labels: seconds for spans under an hour, minutes under two days, else dates. */
function timeLabels(vals: number[]): string[] {
  const span = vals.length > 1 ? vals[vals.length - 1]! - vals[0]! : 0;
  return vals.map((v) => {
    const d = new Date(v * 1000);
    if (span < 3600)
      return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    if (span < 2 * 86400) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return d.toLocaleDateString([], { month: "short", day: "numeric" });
  });
}

export interface StackedData {
  /** Epoch seconds. */
  times: number[];
  series: { label: string; values: number[] }[];
}

export class StackedChart {
  private plot: uPlot | null = null;
  private labels = "";
  private raw: number[][] = [];
  private labelsList: string[] = [];

  constructor(
    private readonly el: HTMLElement,
    private readonly fmt: (v: number) => string,
    private readonly onPick?: (label: string) => void,
    /** Plot height in px (a dashboard widget passes its own). */
    private readonly height = 300,
  ) {}

  set(data: StackedData): void {
    const n = data.times.length;
    // Cumulative from the bottom (series 0) up; drawn top-down.
    const cum: number[][] = [];
    let prev = new Array<number>(n).fill(0);
    for (const s of data.series) {
      const c = s.values.map((v, i) => v + prev[i]!);
      cum.push(c);
      prev = c;
    }
    const order = data.series.map((_, i) => data.series.length - 1 - i);
    this.raw = order.map((i) => data.series[i]!.values);
    this.labelsList = order.map((i) => data.series[i]!.label);
    const aligned: uPlot.AlignedData = [data.times, ...order.map((i) => cum[i]!)];
    const labels = this.labelsList.join("\u0000");
    if (this.plot && labels === this.labels) {
      this.plot.setData(aligned);
      return;
    }
    this.labels = labels;
    this.plot?.destroy();
    const width = Math.max(300, this.el.clientWidth || 900);
    const opts: uPlot.Options = {
      width,
      height: this.height,
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      axes: [
        { values: (_u, vals) => timeLabels(vals) },
        { size: 80, values: (_u, vals) => vals.map((v) => this.fmt(v)) },
      ],
      series: [
        {},
        ...order.map((i, k) => ({
          label: this.labelsList[k]!,
          stroke: color(i),
          fill: color(i),
          width: 1,
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) =>
            idx === null ? "" : this.fmt(this.raw[k]?.[idx] ?? 0),
        })),
      ],
    };
    this.plot = new uPlot(opts, aligned, this.el);
    if (this.onPick) {
      const pick = this.onPick;
      this.plot.over.addEventListener("click", () => {
        const u = this.plot;
        if (!u || u.cursor.idx == null || u.cursor.top == null) return;
        const y = u.posToVal(u.cursor.top, "y");
        // Series are topmost first: the last whose cumulative value is ≥ y is the band hit.
        let hit: string | null = null;
        for (let k = 0; k < this.labelsList.length; k++) {
          const v = (u.data[k + 1] as (number | null)[])[u.cursor.idx] ?? 0;
          if (v >= y) hit = this.labelsList[k]!;
        }
        if (hit) pick(hit);
      });
    }
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}
