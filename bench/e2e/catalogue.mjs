// The products every end-to-end load orders from: the inventory's seeded catalogue (restocked before a run).
export const CATALOGUE_SKUS = [
  "SKU-MUG-001",
  "SKU-TEE-002",
  "SKU-CAP-003",
  "SKU-BAG-004",
  "SKU-NBK-005",
  "SKU-PEN-006",
  "SKU-BTL-007",
  "SKU-SOC-008",
  "SKU-BLK-009",
  "SKU-LMP-010",
  "SKU-PLT-011",
  "SKU-CDL-012",
];
