export interface BenchResult {
  name: string;
  /** A markdown table of the figures. */
  table: string;
  notes?: string;
}
