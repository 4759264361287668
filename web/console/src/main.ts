// The mesh console: asks for the operator token, then shows the mesh live (#/overview) and the
// dead-letter queues (#/dead-letters): list, show decoded, replay, purge.
import { byId, el } from "../../src/dom.js";
import { api, type DeadLetter, type Overview, TokenRefused, token } from "./api.js";

const POLL_MS = 2_000;
let timer: number | undefined;
let queues: Overview["deadLetterQueues"] = [];

function showError(error: unknown): void {
  if (error instanceof TokenRefused) {
    token.clear();
    route();
  }
  const box = byId("error");
  box.textContent = (error as Error).message;
  box.hidden = false;
}

function clearError(): void {
  byId("error").hidden = true;
}

const number = (value: number | undefined, digits = 2) => (value === undefined ? "—" : value.toFixed(digits));
const cell = (text: string, className?: string) => el("td", { class: className }, text);

function renderOverview(overview: Overview): void {
  queues = overview.deadLetterQueues;
  byId("sampled-at").textContent = `sampled ${new Date(overview.sampledAt).toLocaleTimeString()}`;
  byId("rpc-window").textContent =
    overview.windowSeconds > 0 ? `over the last ${overview.windowSeconds.toFixed(0)} s` : "totals since start";
  byId("service-list").replaceChildren(
    ...overview.services.map((service) =>
      el(
        "li",
        { "data-service": service.name, title: service.detail },
        el("span", { class: "service-name" }, service.name),
        el("span", { class: `health health-${service.status.toLowerCase()}` }, service.status),
      ),
    ),
  );
  byId("outbox-rows").replaceChildren(
    ...overview.outbox.map((o) =>
      el("tr", {}, cell(o.service), cell(String(o.backlog), "num"), cell(`${number(o.oldestAgeSeconds, 1)} s`, "num")),
    ),
  );
  byId("queue-rows").replaceChildren(
    ...overview.queues.map((q) =>
      el(
        "tr",
        { "data-queue": q.queue, class: q.deadLetter && q.messages > 0 ? "alert" : undefined },
        cell(q.queue),
        cell(String(q.messages), "num"),
        cell(q.consumers === undefined ? "—" : String(q.consumers), "num"),
      ),
    ),
  );
  const methods = [...overview.methods].sort((a, b) => a.service.localeCompare(b.service) || a.method.localeCompare(b.method));
  byId("rpc-rows").replaceChildren(
    ...methods.map((m) =>
      el(
        "tr",
        { "data-method": m.method },
        cell(m.service),
        cell(m.method),
        cell(number(m.ratePerSecond), "num"),
        cell(number(m.errorsPerSecond), "num"),
        cell(m.p99Ms === undefined ? "—" : `${number(m.p99Ms, 1)} ms`, "num"),
        cell(String(m.calls), "num"),
        cell(String(m.errors), "num"),
      ),
    ),
  );
}

async function pollOverview(): Promise<void> {
  try {
    renderOverview(await api.overview());
    clearError();
  } catch (error) {
    showError(error);
  }
}

function selectedQueue(): string {
  return byId<HTMLSelectElement>("queue").value;
}

function notice(text: string): void {
  byId("notice").textContent = text;
}

async function loadLetters(): Promise<void> {
  const queue = selectedQueue();
  if (!queue) return;
  try {
    const { letters, deadLetterQueue } = await api.deadLetters(queue);
    byId("letters-heading").textContent = `${deadLetterQueue}: ${letters.length} message(s)`;
    byId("letter-rows").replaceChildren(...letters.map((letter) => letterRow(queue, letter)));
    clearError();
  } catch (error) {
    showError(error);
  }
}

function letterRow(queue: string, letter: DeadLetter): HTMLTableRowElement {
  const id = letter.messageId ?? `#${letter.position}`;
  const show = el("button", { type: "button" }, "Show");
  show.addEventListener("click", () => void showLetter(queue, id));
  const replay = el("button", { type: "button" }, "Replay");
  replay.addEventListener("click", () => void replayLetters(queue, id));
  return el(
    "tr",
    { "data-message-id": letter.messageId },
    cell(`#${letter.position}`),
    cell(letter.messageId ?? "—"),
    cell(letter.type ?? "—"),
    cell(String(letter.attempts), "num"),
    cell(letter.failedAt ?? "—"),
    cell(letter.error ?? "—", "error-text"),
    el("td", { class: "actions" }, show, replay),
  );
}

async function showLetter(queue: string, id: string): Promise<void> {
  try {
    const letter = await api.deadLetter(queue, id);
    const fields: Array<[string, string]> = [
      ["message id", letter.messageId ?? "—"],
      ["type", letter.type ?? "—"],
      ["attempts", String(letter.attempts)],
      ["failed at", letter.failedAt ?? "—"],
      ["error", letter.error ?? "—"],
      ["headers", JSON.stringify(letter.headers)],
    ];
    byId("letter-fields").replaceChildren(...fields.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    byId("letter-body").textContent =
      letter.body === undefined ? `(${letter.decodeError ?? "not decoded"})\n${letter.bodyBase64}` : JSON.stringify(letter.body, null, 2);
    const section = byId("letter");
    section.dataset.messageId = id;
    section.hidden = false;
    clearError();
  } catch (error) {
    showError(error);
  }
}

async function replayLetters(queue: string, id: string | "all"): Promise<void> {
  if (id === "all" && !confirm(`Replay every dead letter of ${queue}?`)) return;
  try {
    const { replayed } = await api.replay(queue, id);
    notice(`Replayed ${replayed} message(s) to ${queue}.`);
    byId("letter").hidden = true;
    await loadLetters();
  } catch (error) {
    showError(error);
  }
}

async function purge(): Promise<void> {
  const queue = selectedQueue();
  if (!confirm(`Delete every message in the dead-letter queue of ${queue}? This cannot be undone.`)) return;
  try {
    const { purged } = await api.purge(queue);
    notice(`Purged ${purged} message(s).`);
    byId("letter").hidden = true;
    await loadLetters();
  } catch (error) {
    showError(error);
  }
}

async function openDeadLetters(): Promise<void> {
  if (queues.length === 0) await pollOverview();
  const select = byId<HTMLSelectElement>("queue");
  const current = select.value;
  select.replaceChildren(...queues.map((q) => el("option", { value: q.queue, selected: q.queue === current }, q.deadLetterQueue)));
  await loadLetters();
}

/** Shows the view the hash names, or the token form while there is no token. */
function route(): void {
  window.clearInterval(timer);
  const view = location.hash.replace(/^#\//, "") || "overview";
  const signedIn = token.get() !== "";
  byId("token-form").hidden = signedIn;
  byId("nav").hidden = !signedIn;
  byId("overview").hidden = !signedIn || view !== "overview";
  byId("dead-letters").hidden = !signedIn || view !== "dead-letters";
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!signedIn) return;
  if (view === "dead-letters") void openDeadLetters();
  else {
    void pollOverview();
    timer = window.setInterval(() => void pollOverview(), POLL_MS);
  }
}

byId<HTMLFormElement>("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token.set(byId<HTMLInputElement>("token").value.trim());
  clearError();
  route();
});
byId("sign-out").addEventListener("click", () => {
  token.clear();
  route();
});
byId("queue").addEventListener("change", () => void loadLetters());
byId("refresh-letters").addEventListener("click", () => void loadLetters());
byId("replay-all").addEventListener("click", () => void replayLetters(selectedQueue(), "all"));
byId("replay-letter").addEventListener("click", () => {
  const id = byId("letter").dataset.messageId;
  if (id) void replayLetters(selectedQueue(), id);
});
byId("purge").addEventListener("click", () => void purge());
window.addEventListener("hashchange", route);
route();
