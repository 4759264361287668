// The floors' consumers (bench/e2e/floor-service.mjs, bench/messaging/consume-side.mjs): the least
// a consumer that dedupes into a database can do — a window of deliveries written by one statement
// and acked with one `multiple` ack.

/**
 * Consumes `queue` on `channel` a window at a time: the deliveries that arrive in one turn of the
 * event loop (at most the prefetch) are decoded, handed to `write` together, then acked with one
 * `multiple` ack. Windows are written one after another, so an ack never covers a delivery whose
 * write has not finished. A failed write goes to `onError`.
 */
export function consumeInWindows(channel, queue, { decode, write, onError }) {
  let window = [];
  let writing = Promise.resolve();
  const flush = async () => {
    const batch = window;
    window = [];
    if (batch.length === 0) return;
    await write(batch.map(({ item }) => item));
    channel.ack(batch.at(-1).message, true);
  };
  return channel.consume(queue, (message) => {
    window.push({ message, item: decode(message) });
    if (window.length === 1) {
      setImmediate(() => {
        writing = writing.then(flush).catch(onError);
      });
    }
  });
}

/**
 * Inserts `rows` ({ n: notification id, c: command id, ch: channel, r: recipient, t: template,
 * p: parameters, b: body, o: order id, u: user id }) into notification's `deliveries` in one
 * statement, as its store does; a command id already there is a no-op (the dedupe).
 */
export function insertDeliveries(query, rows) {
  return query(
    `insert into deliveries (notification_id, command_id, channel, recipient, template, parameters, body, order_id, user_id)
     select n, c, ch, r, t, p, b, o, u from json_to_recordset($1::json)
       as d(n text, c text, ch text, r text, t text, p jsonb, b text, o text, u text)
     on conflict (command_id) do nothing`,
    [JSON.stringify(rows)],
  );
}
