// The console's JSON API on the gateway's admin port (/console/api/*), called with the operator token.

/** A service's health, RPC figures per method, outbox, queues and DLQs. */
export interface Overview {
  sampledAt: string;
  windowSeconds: number;
  services: Array<{ name: string; status: "SERVING" | "NOT_SERVING" | "UNREACHABLE"; detail?: string }>;
  methods: Array<{
    service: string;
    method: string;
    calls: number;
    errors: number;
    ratePerSecond?: number;
    errorsPerSecond?: number;
    p99Ms?: number;
  }>;
  outbox: Array<{ service: string; backlog: number; oldestAgeSeconds: number }>;
  queues: Array<{ service: string; queue: string; messages: number; consumers?: number; deadLetter: boolean }>;
  deadLetterQueues: Array<{ queue: string; deadLetterQueue: string; messages?: number }>;
}

/** One dead letter as listed. */
export interface DeadLetter {
  position: number;
  messageId?: string;
  type?: string;
  attempts: number;
  error?: string;
  failedAt?: string;
}

/** One dead letter in full. */
export interface DeadLetterDetail extends DeadLetter {
  headers: Record<string, unknown>;
  body?: unknown;
  decodeError?: string;
  bodyBase64: string;
}

/** The API refused the token (401): the page asks for it again. */
export class TokenRefused extends Error {}

const TOKEN_KEY = "mesh-console-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? "",
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`/console/api/${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token.get()}`, "content-type": "application/json" },
  });
  if (response.status === 401) throw new TokenRefused("the operator token was refused");
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

const q = (queue: string) => `queues/${encodeURIComponent(queue)}`;

export const api = {
  overview: () => call<Overview>("overview"),
  deadLetters: (queue: string) => call<{ letters: DeadLetter[]; deadLetterQueue: string }>(`${q(queue)}/dead-letters`),
  deadLetter: (queue: string, id: string) => call<DeadLetterDetail>(`${q(queue)}/dead-letters/${encodeURIComponent(id)}`),
  replay: (queue: string, id: string | "all") =>
    call<{ replayed: number }>(`${q(queue)}/replay`, { method: "POST", body: JSON.stringify(id === "all" ? { all: true } : { id }) }),
  purge: (queue: string) => call<{ purged: number }>(`${q(queue)}/purge`, { method: "POST" }),
};
