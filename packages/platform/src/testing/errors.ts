import { ConnectError } from "@connectrpc/connect";

/** The ConnectError `call` fails with; throws (failing the test) when it succeeds or fails with anything else. */
export async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  let outcome: unknown;
  try {
    outcome = await call;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw new Error(`expected a ConnectError, got ${String(error)}`, { cause: error });
  }
  const answer = JSON.stringify(outcome, (_key, value) => (typeof value === "bigint" ? `${value}n` : value));
  throw new Error(`expected the call to be refused, it answered ${answer}`);
}
