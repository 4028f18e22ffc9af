// The replay viewer: any match of the server's store, position by position, with every
// seat's hand, a timeline of rounds and tricks, and the verification report. Its data is
// one JSON document (replay_tool/web_view.py) from /api/replay/ROOM.

import { h, pieceElement, playTypeLabel, seatName } from "./pieces.js";

const root = document.getElementById("viewer");
const status = document.getElementById("status");
const room = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "").toUpperCase();
let doc = null;
let position = 0;

function positionFromHash() {
  const match = /v=(\d+)/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

async function start() {
  document.getElementById("room-code").textContent = room;
  const response = await fetch(`/api/replay/${encodeURIComponent(room)}`);
  if (!response.ok) {
    status.textContent = `${response.status}: ${(await response.text()).trim()}`;
    status.dataset.kind = "error";
    return;
  }
  doc = await response.json();
  const wanted = positionFromHash();
  position = wanted === null ? doc.frames.length - 1 : clamp(wanted);
  status.textContent = `${doc.status}, ${doc.last_version} events`
    + (doc.stops_early ? ` — positions stop early: ${doc.stops_early}` : "");
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
    if (event.key === "ArrowRight") go(position + 1);
    if (event.key === "ArrowLeft") go(position - 1);
  });
  window.addEventListener("hashchange", () => {
    const at = positionFromHash();
    if (at !== null && at !== position) go(at);
  });
  render();
}

const clamp = (at) => Math.max(0, Math.min(doc.frames.length - 1, at));

function go(at) {
  position = clamp(at);
  history.replaceState(null, "", `#v=${position}`);
  render();
}

function render() {
  const frame = doc.frames[position];
  document.body.dataset.position = String(position);
  root.replaceChildren(
    controls(),
    h(
      "p",
      { id: "event", className: "panel" },
      h("strong", {}, `v${frame.version}/${doc.frames.length - 1} `),
      frame.event_type ? h("span", { className: "badge" }, frame.event_type) : null,
      ` ${frame.text}`,
    ),
    h(
      "div",
      { className: "viewer-body" },
      h("div", {}, seats(frame), trick(frame)),
      h("div", {}, timeline(), verification()),
    ),
  );
}

function controls() {
  const last = doc.frames.length - 1;
  const slider = h("input", {
    id: "slider", type: "range", min: 0, max: last, value: position,
    oninput: (event) => go(Number(event.target.value)),
  });
  return h(
    "div",
    { className: "panel row controls" },
    h("button", { id: "first", onclick: () => go(0), disabled: position === 0 }, "« first"),
    h("button", { id: "prev", onclick: () => go(position - 1), disabled: position === 0 }, "◀ prev"),
    slider,
    h("button", { id: "next", onclick: () => go(position + 1), disabled: position === last }, "next ▶"),
    h("button", { id: "last", onclick: () => go(last), disabled: position === last }, "last »"),
  );
}

function seats(frame) {
  const t = frame.table;
  return h(
    "div",
    { id: "hands", className: "hands" },
    t.seats.map((s, i) =>
      h(
        "div",
        { className: `seat${t.turn === i ? " turn" : ""}`, dataset: { seat: i } },
        h("div", { className: "seat-name" }, s.name ?? `P${i + 1} (empty)`, s.is_bot ? " · bot" : "",
          s.name && !s.is_bot && !s.connected ? " · away" : ""),
        h(
          "div",
          { className: "seat-stats" },
          `score ${s.score}`,
          s.declared !== null ? ` · declared ${s.declared} · piles ${s.piles}` : "",
        ),
        h("div", { className: "hand" }, frame.hands[i].map((p) => pieceElement(p, { small: true }))),
      ),
    ),
  );
}

function trick(frame) {
  const t = frame.table;
  const plays = t.plays.length ? t.plays : t.last_trick;
  const title = t.plays.length ? `round ${t.round}, trick ${t.trick}` : plays.length ? "last trick" : "no trick on the table";
  return h(
    "div",
    { id: "trick", className: "trick panel" },
    h("div", { className: "muted" }, `${t.phase} · ${title}${t.multiplier > 1 ? ` · ×${t.multiplier}` : ""}`),
    plays.map((p, i) =>
      h(
        "div",
        { className: `play${t.plays.length && i === t.winning ? " winning" : ""}` },
        h("span", { className: "who" }, seatName(t.seats, p.seat)),
        p.pieces.map((piece) => pieceElement(piece, { small: true })),
        h("span", { className: "muted" }, ` ${playTypeLabel(p.play_type)} ${p.value}`),
      ),
    ),
  );
}

function mark(label, version, extra = {}) {
  return h(
    "button",
    {
      className: `mark${version === position ? " here" : ""}`,
      onclick: () => go(version),
      title: `v${version}`,
      dataset: { version, ...extra },
    },
    label,
  );
}

function timeline() {
  return h(
    "div",
    { id: "timeline", className: "panel" },
    h("strong", {}, "Timeline"),
    doc.rounds.map((r) =>
      h(
        "div",
        { className: "round", dataset: { round: r.number } },
        mark(`Round ${r.number}`, r.dealt, { kind: "round" }),
        r.tricks.map((t) =>
          mark(`T${t.number}${t.winner === null ? "" : ` ${seatName(doc.seats, t.winner)}`}`, t.version, { kind: "trick", trick: t.number }),
        ),
        r.scored === null ? null : mark(`scores ${r.scores.map((s) => (s > 0 ? `+${s}` : s)).join(" ")}`, r.scored, { kind: "scored" }),
      ),
    ),
  );
}

function verification() {
  const report = doc.verification;
  if (!report) return null;
  const ok = report.checks.every((c) => c.status !== "fail");
  return h(
    "div",
    { id: "verification", className: "panel", dataset: { ok: String(ok) } },
    h("strong", {}, ok ? "Verified: every check passes" : "Verification FAILED"),
    h(
      "ul",
      {},
      report.checks.map((c) =>
        h("li", { className: `check ${c.status}` }, `${c.status} · ${c.name}: ${c.summary}`,
          c.problems.length ? h("ul", {}, c.problems.map((p) => h("li", {}, p))) : null),
      ),
    ),
  );
}

start();
