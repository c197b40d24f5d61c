/**
 * What the soak saw: every answer classified (data, or an error with which code), every hang, every sign of one
 * token's data in another's answer, and every write with its unique marker, to be matched against what the
 * simulator received.
 */

/** The contract's error codes (INTERNAL_SERVER_ERROR is one too, but the soak counts it as a failure). */
export const CONTRACT_CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'GONE',
  'BAD_USER_INPUT',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_ERROR',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_REQUIRED',
]);

export interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message?: string; extensions?: { code?: unknown } }>;
}

export interface Write {
  kind: 'update' | 'upload';
  marker: string;
  /** true: answered with data; false: answered with an error. */
  succeeded: boolean;
  answeredAt: number;
}

const SAMPLES = 5;

function keep(list: string[], item: string): void {
  if (list.length < SAMPLES) list.push(item);
}

export class SoakRecord {
  answers = 0;
  dataAnswers = 0;
  readonly codes = new Map<string, number>();
  readonly byAction = new Map<string, number>();
  hangs = 0;
  readonly hangSamples: string[] = [];
  uncoded = 0;
  readonly uncodedSamples: string[] = [];
  internal = 0;
  readonly internalSamples: string[] = [];
  crossTenant = 0;
  readonly crossTenantSamples: string[] = [];
  readonly pendingWrites: Write[] = [];
  writesChecked = 0;
  writeViolations = 0;
  readonly writeViolationSamples: string[] = [];
  /** Requests cut because their instance was stopped on purpose (the instances soak's churn), per label. */
  readonly interruptions = new Map<string, number>();

  action(label: string): void {
    this.byAction.set(label, (this.byAction.get(label) ?? 0) + 1);
  }

  hang(label: string, ms: number): void {
    this.hangs += 1;
    keep(this.hangSamples, `${label} after ${ms} ms`);
  }

  /** Something that is not an answer the contract describes: a dropped connection, a non-JSON body, no code. */
  notAnAnswer(label: string, detail: string): void {
    this.uncoded += 1;
    // The time of day, to find the moment in the gateways' logs.
    keep(this.uncodedSamples, `${new Date().toISOString().slice(11, 23)} ${label}: ${detail}`);
  }

  interrupted(label: string): void {
    this.interruptions.set(label, (this.interruptions.get(label) ?? 0) + 1);
  }

  leak(label: string, detail: string): void {
    this.crossTenant += 1;
    keep(this.crossTenantSamples, `${label}: ${detail}`);
  }

  /** Counts one GraphQL answer (or event); true when it carried data and no error. */
  graphql(label: string, status: number, body: unknown): boolean {
    this.answers += 1;
    if (typeof body !== 'object' || body === null) {
      this.notAnAnswer(label, `HTTP ${status}, not a JSON object`);
      return false;
    }
    const { data, errors } = body as GraphQLBody;
    if (!errors?.length) {
      if (data == null) {
        this.notAnAnswer(label, `HTTP ${status}, neither data nor errors`);
        return false;
      }
      this.dataAnswers += 1;
      return true;
    }
    for (const error of errors) this.code(label, error.extensions?.code, error.message);
    return false;
  }

  /** A code from a non-GraphQL route (downloads) or a GraphQL error. */
  code(label: string, code: unknown, message?: string): void {
    const name = typeof code === 'string' ? code : '(none)';
    this.codes.set(name, (this.codes.get(name) ?? 0) + 1);
    if (name === 'INTERNAL_SERVER_ERROR') {
      this.internal += 1;
      keep(this.internalSamples, `${label}: ${message ?? ''}`.slice(0, 200));
    } else if (!CONTRACT_CODES.has(name)) {
      this.notAnAnswer(label, `code ${name}: ${message ?? ''}`.slice(0, 200));
    }
  }

  write(write: Write): void {
    this.pendingWrites.push(write);
  }

  /**
   * Matches the writes answered before `before` against what the simulator received: a write that succeeded
   * reached it exactly once, one that failed at most once (writes are never retried).
   */
  checkWrites(received: Map<string, number>, before: number): void {
    for (let i = this.pendingWrites.length - 1; i >= 0; i--) {
      const write = this.pendingWrites[i] as Write;
      if (write.answeredAt > before) continue;
      this.pendingWrites.splice(i, 1);
      this.writesChecked += 1;
      const count = received.get(write.marker) ?? 0;
      const fine = write.succeeded ? count === 1 : count <= 1;
      if (!fine) {
        this.writeViolations += 1;
        keep(
          this.writeViolationSamples,
          `${write.kind} ${write.marker} ${write.succeeded ? 'succeeded' : 'failed'}, EPMware received it ${count}x`,
        );
      }
    }
  }
}
