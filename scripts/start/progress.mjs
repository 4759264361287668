// What `npm start` is doing while the services start — a first start spends up to a minute initialising databases,
// which looked like a hang. For each service: its current step (the message of its latest log line, e.g.
// "initialising the embedded database (first start: this takes a while)") and the seconds since it was started.
// On a terminal a status block stays under the logs, redrawn once a second; elsewhere (a pipe, a file, CI) there is
// no cursor to move, so it prints one line per change, at most once a second.

/** A progress display for `names`, started now; feed it steps and readiness, print logs through it, stop it when done. */
export function startupProgress(names, { out = process.stdout, tty = Boolean(out.isTTY) } = {}) {
  const began = Date.now();
  const states = new Map(names.map((name) => [name, { step: "starting", readyAfter: undefined, changed: true }]));
  const width = Math.max(...names.map((name) => name.length)) + 2;
  let drawnLines = 0;
  let stopped = false;

  const seconds = (ms) => `${Math.round(ms / 1000)} s`;
  const describe = (state) =>
    state.readyAfter === undefined
      ? `${seconds(Date.now() - began).padStart(5)}  ${state.step}`
      : `ready after ${seconds(state.readyAfter)}`;

  function erase() {
    if (drawnLines > 0) out.write(`\x1b[${drawnLines}A\r\x1b[J`);
    drawnLines = 0;
  }
  function draw() {
    const columns = out.columns || 120; // a line longer than the terminal wraps, and the erase would miss it
    const lines = [...states].map(([name, state]) => {
      const mark = state.readyAfter === undefined ? "\x1b[33m…\x1b[0m" : "\x1b[32m✓\x1b[0m";
      return `${mark} ${name.padEnd(width)}${describe(state).slice(0, columns - width - 3)}`;
    });
    out.write(`${lines.join("\n")}\n`);
    drawnLines = lines.length;
  }
  function tick() {
    if (tty) {
      erase();
      draw();
      return;
    }
    for (const [name, state] of states) {
      if (!state.changed) continue;
      state.changed = false;
      out.write(`[start] ${name.padEnd(width)}${describe(state)}\n`);
    }
  }

  const timer = setInterval(tick, 1000);
  tick();
  return {
    /** Records `name`'s latest step; shown at the next redraw. */
    step(name, text) {
      const state = states.get(name);
      if (!state || state.readyAfter !== undefined || state.step === text) return;
      state.step = text;
      state.changed = true;
    },
    /** Marks `name` ready (its /readyz answered 200). */
    ready(name) {
      const state = states.get(name);
      if (!state || state.readyAfter !== undefined) return;
      state.readyAfter = Date.now() - began;
      state.changed = true;
    },
    /** Writes log text above the status block. */
    print(text) {
      if (!tty || drawnLines === 0) return void out.write(text);
      erase();
      out.write(text);
      draw();
    },
    /** Stops redrawing; on a terminal the block is replaced by its last state, so what happened stays readable. */
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      tick();
      drawnLines = 0;
    },
  };
}
