export interface BenchResult {
  name: string;
  /** A markdown table of the figures. */
  table: string;
  notes?: string;
}

export interface BenchOptions {
  /** Fewer sizes, rounds and seconds: the table in about a minute instead of several. */
  quick?: boolean;
}
