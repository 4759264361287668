-- The shop's starting catalogue: a dozen products, prices in EUR cents.
INSERT INTO products (sku, name, description, currency_code, price_minor, on_hand) VALUES
  ('SKU-MUG-001', 'Enamel mug', 'A white enamel camping mug with a blue rim, 350 ml.', 'EUR', 1299, 120),
  ('SKU-TEE-002', 'Organic cotton tee', 'A heavyweight crew-neck T-shirt in undyed organic cotton.', 'EUR', 2499, 80),
  ('SKU-CAP-003', 'Canvas cap', 'A six-panel cap in waxed canvas with a brass buckle.', 'EUR', 1999, 60),
  ('SKU-BAG-004', 'Tote bag', 'A sturdy tote in recycled canvas, big enough for the weekly shop.', 'EUR', 1599, 150),
  ('SKU-NBK-005', 'Dot-grid notebook', 'A5, 192 pages of 100 g paper that takes fountain pens.', 'EUR', 1450, 200),
  ('SKU-PEN-006', 'Brass pen', 'A solid brass pen that ages to a warm patina.', 'EUR', 3900, 40),
  ('SKU-BTL-007', 'Steel bottle', 'A double-walled steel bottle: cold for 24 hours, hot for 12.', 'EUR', 2899, 90),
  ('SKU-SOC-008', 'Wool socks', 'Merino hiking socks, cushioned where it counts.', 'EUR', 1699, 110),
  ('SKU-BLK-009', 'Picnic blanket', 'A checked wool blanket with a waterproof back.', 'EUR', 5900, 30),
  ('SKU-LMP-010', 'Desk lamp', 'An adjustable steel desk lamp with a warm LED.', 'EUR', 7900, 25),
  ('SKU-PLT-011', 'Stoneware plate', 'A hand-glazed stoneware dinner plate, 27 cm.', 'EUR', 1899, 70),
  ('SKU-CDL-012', 'Beeswax candle', 'A pure beeswax pillar candle that burns for 40 hours.', 'EUR', 1150, 100);
