import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "@shop/contracts/google/rpc/error_details_pb";

/** Explains a failed call in words a shopper understands, with the server's details where useful. */
export function describeError(error: unknown): string {
  const err = ConnectError.from(error);
  const violations = err.findDetails(BadRequestSchema)[0]?.fieldViolations ?? [];
  const reason = err.findDetails(ErrorInfoSchema)[0]?.reason;
  switch (err.code) {
    case Code.Unauthenticated:
      return reason === "TOKEN_EXPIRED" ? "Your session has expired. Please sign in again." : "Please sign in first.";
    case Code.PermissionDenied:
      return "You are not allowed to do that.";
    case Code.InvalidArgument:
      return violations.length > 0
        ? `Please check your input: ${violations.map((v) => `${v.field.replace(/_/g, " ")} ${v.description}`).join("; ")}.`
        : `Please check your input: ${err.rawMessage}.`;
    case Code.NotFound:
      return "We could not find that. It may have been removed.";
    case Code.FailedPrecondition:
      return reason === "OUT_OF_STOCK" || /stock/i.test(err.rawMessage)
        ? "Sorry, part of your order is out of stock."
        : `That is not possible right now: ${err.rawMessage}.`;
    case Code.AlreadyExists:
      return "This order was already placed.";
    case Code.ResourceExhausted:
      return "You are going a little fast. Please wait a moment and try again.";
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return "The shop is not answering right now. Please try again in a moment.";
    default:
      return `Something went wrong (${Code[err.code]}): ${err.rawMessage}`;
  }
}
