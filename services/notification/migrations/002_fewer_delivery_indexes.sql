-- Every read of deliveries names its user (listDeliveries, getDelivery) or its command id
-- (deliveryForCommand, the de-duplication): deliveries_user_seq_idx (user_id, seq desc) serves the
-- user's list with any order / recipient / page filter, so the order_id and recipient indexes and
-- seq's own unique index only cost every insert three more index entries (seq stays unique: it
-- comes from its sequence). Measured in bench/messaging/README.md.
drop index if exists deliveries_order_idx;
drop index if exists deliveries_recipient_idx;
alter table deliveries drop constraint if exists deliveries_seq_key;
