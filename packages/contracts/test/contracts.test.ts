import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  createRegistry,
  type DescField,
  type DescFile,
  type DescMessage,
  getOption,
  hasOption,
  isFieldSet,
  toJson,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  field as fieldRules,
  MapRulesSchema,
  RepeatedRulesSchema,
  StringRulesSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { InventoryService } from "@shop/contracts/shop/inventory/v1/inventory_service_pb";
import { NotificationService } from "@shop/contracts/shop/notification/v1/notification_service_pb";
import { OrderService } from "@shop/contracts/shop/order/v1/order_service_pb";
import { PaymentService } from "@shop/contracts/shop/payment/v1/payment_service_pb";
import { afterAll, describe, expect, it } from "vitest";
import { specProtos, vendoredProtos } from "../../../scripts/vendor-protos.mjs";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../../..");
const buf = join(root, "node_modules/.bin/buf");

/** A scratch copy of the module and its released baseline, for edits the real tree never sees. */
function scratchTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "shop-contracts-"));
  for (const entry of ["proto", "buf.yaml", "contracts"]) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  scratchDirs.push(dir);
  return dir;
}
const scratchDirs: string[] = [];
afterAll(() => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

async function breaking(dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run(buf, ["breaking", "--against", "contracts/released.binpb"], { cwd: dir });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: stdout + stderr };
  }
}

function edit(dir: string, file: string, from: string | RegExp, to: string): void {
  const path = join(dir, "proto", file);
  const before = readFileSync(path, "utf8");
  const after = before.replace(from, to);
  expect(after, `the edit must change ${file}`).not.toBe(before);
  writeFileSync(path, after);
}

describe("buf breaking against the released v1 contracts", () => {
  it("passes on the untouched tree", async () => {
    const result = await breaking(scratchTree());
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
  });

  it("fails when a field is removed", async () => {
    const dir = scratchTree();
    edit(
      dir,
      "shop/order/v1/order.proto",
      /\s*\/\/ Where notifications about the order go \(an e-mail address\)\.\n\s*string email = 7;/,
      "",
    );
    const result = await breaking(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/Previously present field "7" with name "email" on message "Order" was deleted/);
  });

  it("fails when a field changes type", async () => {
    const dir = scratchTree();
    edit(dir, "shop/inventory/v1/product.proto", "int32 available_quantity = 5;", "int64 available_quantity = 5;");
    const result = await breaking(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/changed type from "int32" to "int64"/);
  });

  it("fails when a method is renamed", async () => {
    const dir = scratchTree();
    edit(dir, "shop/payment/v1/payment_service.proto", "rpc CapturePayment(", "rpc CaptureFunds(");
    const result = await breaking(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/Previously present RPC "CapturePayment" on service "PaymentService" was deleted/);
  });

  it("guards the order events: fails when an event's field is renumbered or an event is removed", async () => {
    const dir = scratchTree();
    edit(dir, "shop/order/v1/order_events.proto", /string reason = 4;/, "string reason = 5;");
    edit(dir, "shop/order/v1/order_events.proto", /\/\/ A confirmed order was cancelled[\s\S]*$/, "");
    const result = await breaking(dir);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/Previously present field "4" with name "reason" on message "OrderRejected" was deleted/);
    expect(result.output).toMatch(/Previously present message "OrderCancelled" was deleted/);
  });

  it("accepts an additive change: a new optional field", async () => {
    const dir = scratchTree();
    edit(
      dir,
      "shop/order/v1/order.proto",
      "google.protobuf.Timestamp update_time = 11;",
      "google.protobuf.Timestamp update_time = 11;\n  // A note for the warehouse.\n  string gift_message = 12;",
    );
    const result = await breaking(dir);
    expect(result.ok).toBe(true);
  });
});

describe("vendored third-party protos", () => {
  it.each(vendoredProtos)("%s is copied unchanged into proto/%s", (from, to) => {
    const shipped = readFileSync(join(root, "node_modules", from), "utf8");
    const vendored = readFileSync(join(root, "proto", to), "utf8");
    expect(vendored).toBe(shipped);
  });
});

describe("protos vendored from a published specification", () => {
  /** The file's descriptor as JSON, its options' extensions spelled out (comments and source info are not in it). */
  const descriptorJson = (file: DescFile, registryFile: DescFile) =>
    toJson(FileDescriptorProtoSchema, file.proto, { registry: createRegistry(registryFile) });

  it.each(specProtos)("%s, in proto/%s, compiles to the descriptor %s was generated from", async (_from, to, generated) => {
    const contractsModule = `@shop/contracts/${to.replace(/\.proto$/, "_pb")}`;
    const [ours, theirs] = await Promise.all([import(contractsModule), import(generated)]);
    const fileOf = (module: Record<string, unknown>) =>
      Object.values(module).find(
        (value): value is DescFile =>
          (value as DescFile | undefined)?.kind === "file" && (value as DescFile).name === to.replace(/\.proto$/, ""),
      );
    const [ourFile, theirFile] = [fileOf(ours), fileOf(theirs)];
    expect(ourFile, contractsModule).toBeDefined();
    expect(theirFile, generated).toBeDefined();
    if (!ourFile || !theirFile) return;
    expect(descriptorJson(ourFile, theirFile)).toEqual(descriptorJson(theirFile, theirFile));
  });
});

describe("every field a caller sends is bounded by a buf.validate rule", () => {
  /** Strings need max_len (or max_bytes, or a fixed pattern), repeated fields max_items, maps max_pairs. */
  function unbounded(message: DescMessage, path: string, seen = new Set<string>()): string[] {
    if (seen.has(message.typeName) || message.file.name.startsWith("google/protobuf/")) return [];
    seen.add(message.typeName);
    return message.fields.flatMap((field: DescField): string[] => {
      const at = `${path}.${field.name}`;
      const rules = hasOption(field, fieldRules) ? getOption(field, fieldRules) : undefined;
      const own: string[] = [];
      if (
        field.fieldKind === "list" &&
        !(rules?.type.case === "repeated" && isFieldSet(rules.type.value, RepeatedRulesSchema.field.maxItems))
      )
        own.push(at);
      if (field.fieldKind === "map" && !(rules?.type.case === "map" && isFieldSet(rules.type.value, MapRulesSchema.field.maxPairs)))
        own.push(at);
      const stringRules = rules?.type.case === "string" ? rules.type.value : undefined;
      const scalar = field.fieldKind === "list" ? field.scalar : field.fieldKind === "scalar" ? field.scalar : undefined;
      const isString = scalar === 9; // ScalarType.STRING
      const bounded =
        stringRules &&
        (isFieldSet(stringRules, StringRulesSchema.field.maxLen) ||
          isFieldSet(stringRules, StringRulesSchema.field.maxBytes) ||
          stringRules.pattern === "^[A-Z]{3}$");
      if (isString && field.fieldKind !== "list" && !bounded) own.push(at);
      const inner = field.fieldKind === "message" || field.fieldKind === "list" ? field.message : undefined;
      return [...own, ...(inner ? unbounded(inner, at, seen) : [])];
    });
  }

  it("flags the fields of a message without rules (a response)", () => {
    expect(unbounded(OrderService.method.getOrder.output, "GetOrderResponse")).toEqual(
      expect.arrayContaining(["GetOrderResponse.order.order_id", "GetOrderResponse.order.lines", "GetOrderResponse.order.lines.sku"]),
    );
  });

  it.each([OrderService, InventoryService, PaymentService, NotificationService])("$typeName", (service) => {
    expect(service.methods.flatMap((method) => unbounded(method.input, method.name))).toEqual([]);
  });
});
