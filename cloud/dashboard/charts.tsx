// Charts drawn on the server as inline SVG: no client library, no network, readable by screen
// readers through their title and a text summary beside them.

interface SeriesChartProps {
  readonly label: string;
  readonly values: readonly number[];
  /** Shown after the latest value, e.g. "/min" or "ms". */
  readonly unit: string;
}

const W = 300;
const H = 64;

/** One bar per minute, oldest first, scaled to the largest value. */
export function BarChart({ label, values, unit }: SeriesChartProps) {
  const top = Math.max(1, ...values);
  const step = W / Math.max(1, values.length);
  const latest = values[values.length - 1] ?? 0;
  const total = values.reduce((a, b) => a + b, 0);
  return (
    <figure class="chart">
      <figcaption>
        <span>{label}</span>
        <strong>
          {latest}
          {unit}
        </strong>
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${label}: ${latest}${unit} in the last minute, ${total} over ${values.length} minutes, peak ${top}`}
      >
        <title>{label}</title>
        <line x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} class="axis" />
        {values.map((v, i) => {
          const h = v === 0 ? 0 : Math.max(1.5, (v / top) * (H - 4));
          return (
            <rect
              x={(i * step + 0.5).toFixed(2)}
              y={(H - h).toFixed(2)}
              width={Math.max(0.5, step - 1).toFixed(2)}
              height={h.toFixed(2)}
            />
          );
        })}
      </svg>
    </figure>
  );
}

interface HistogramProps {
  readonly label: string;
  readonly buckets: readonly { readonly leMs: number | null; readonly count: number }[];
}

/** The latency histogram: one bar per bucket, labelled with its upper bound. */
export function Histogram({ label, buckets }: HistogramProps) {
  const top = Math.max(1, ...buckets.map((b) => b.count));
  const step = W / Math.max(1, buckets.length);
  const summary = buckets.map((b) => `${b.leMs === null ? "over 1000" : `up to ${b.leMs}`} ms: ${b.count}`).join(", ");
  return (
    <figure class="chart">
      <figcaption>
        <span>{label}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H + 14}`} role="img" aria-label={`${label}: ${summary}`}>
        <title>{label}</title>
        {buckets.map((b, i) => {
          const h = b.count === 0 ? 0 : Math.max(1.5, (b.count / top) * (H - 4));
          return (
            <g>
              <rect
                x={(i * step + 2).toFixed(2)}
                y={(H - h).toFixed(2)}
                width={(step - 4).toFixed(2)}
                height={h.toFixed(2)}
              />
              <text x={(i * step + step / 2).toFixed(2)} y={H + 11} text-anchor="middle">
                {b.leMs === null ? ">1s" : `${b.leMs}`}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
