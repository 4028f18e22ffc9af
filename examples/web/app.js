// The game page: lobby, a seat at a table, and the player's own moves, over the example
// server's WebSocket (docs/protocol.md). What the page must survive a reload with (name,
// room, seat token, last version seen, round scores) lives in sessionStorage.

import { h, pieceElement, playTypeLabel, seatName } from "./pieces.js";

const KEY = "liaptui.seat";
const IN_GAME = ["PREPARATION", "ROUND_START", "DECLARATION", "TURN", "SCORING"];
const root = document.getElementById("app");
const status = document.getElementById("status");

let saved = load(); // {name, room, token, version, rounds, log}
let socket = null;
let greeted = false;
let view = null; // the last PlayerView pushed
let legal = []; // the plays the server says we may make now
let selected = new Set(); // positions in view.hand
let rooms = [];
let asking = false; // a reconnect is on its way
let playing = false; // a play is on its way (or waiting for the table to clear)
let lobbyTimer = null;
const waiting = new Map(); // ref -> resolve of the reply
let nextRef = 1;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) ?? {};
  } catch {
    return {};
  }
}

function persist() {
  sessionStorage.setItem(KEY, JSON.stringify(saved));
  document.body.dataset.version = saved.version ?? 0;
}

function forgetRoom() {
  saved = { name: saved.name };
  view = null;
  legal = [];
  selected = new Set();
  persist();
}

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
}

// --- the socket -----------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/`);
  greeted = false;
  socket.addEventListener("open", greet);
  socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    document.body.dataset.connected = "false";
    say("connection lost: reconnecting…", "error");
    for (const resolve of waiting.values()) resolve({ type: "error", code: "closed" });
    waiting.clear();
    setTimeout(connect, 1000);
  });
}

function request(type, fields = {}) {
  const ref = String(nextRef++);
  socket.send(JSON.stringify({ type, ref, ...fields }));
  return new Promise((resolve) => waiting.set(ref, resolve));
}

/** Send a command and show a refusal; resolves to the reply. */
async function command(type, fields = {}) {
  const reply = await request(type, fields);
  if (reply.type === "error" && reply.code !== "closed") say(`${reply.code}: ${reply.message}`, "error");
  return reply;
}

async function greet() {
  document.body.dataset.connected = "true";
  if (!saved.name) return render();
  if (saved.room && saved.token) {
    const reply = await request("hello", {
      name: saved.name, room: saved.room, token: saved.token, last_version: saved.version ?? 0,
    });
    if (reply.type === "welcome") {
      greeted = true;
      say(`back in room ${saved.room}: catching up after v${saved.version ?? 0}`);
      return;
    }
    say(`could not return to room ${saved.room} (${reply.code}): back to the lobby`, "error");
    forgetRoom();
  }
  const reply = await request("hello", { name: saved.name });
  if (reply.type !== "welcome") {
    say(`${reply.code}: ${reply.message}`, "error");
    saved = {};
    persist();
    return render();
  }
  greeted = true;
  showLobby();
}

function receive(msg) {
  if (msg.type === "update") return update(msg);
  const resolve = waiting.get(msg.ref);
  if (resolve) {
    waiting.delete(msg.ref);
    resolve(msg);
  }
}

function update(msg) {
  const expected = (saved.version ?? 0) + 1;
  if (msg.room !== saved.room || msg.first_version !== expected) {
    say(`unexpected update v${msg.first_version} (expected v${expected})`, "error");
    return;
  }
  if (document.body.dataset.resumedFrom === undefined) {
    document.body.dataset.resumedFrom = String(msg.first_version - 1);
  }
  saved.rounds = saved.rounds ?? [];
  saved.log = saved.log ?? [];
  for (const event of msg.events) {
    if (event.type === "RoundScored") saved.rounds.push(event);
    const line = narrate(event, msg.view.seats);
    if (line) saved.log = [...saved.log.slice(-11), line];
  }
  saved.version = msg.last_version;
  view = msg.view;
  legal = msg.legal_plays ?? [];
  selected = new Set([...selected].filter((i) => i < view.hand.length));
  if (!legal.length) selected = new Set();
  persist();
  const me = view.my_seat === null ? null : view.seats[view.my_seat];
  if (me && !me.connected && IN_GAME.includes(view.phase) && !asking) {
    asking = true; // a bot has our seat since the old socket dropped: take it back
    command("reconnect").finally(() => { asking = false; });
  }
  render();
}

function narrate(event, seats) {
  const who = (seat) => seatName(seats, seat);
  switch (event.type) {
    case "PlayerJoined": return `${event.name} joined`;
    case "GameStarted": return "the game starts";
    case "RoundStarted": return `round ${event.round} starts (×${event.multiplier}), ${who(event.starter)} leads`;
    case "Declared": return `${who(event.seat)} declares ${event.piles}`;
    case "PiecesPlayed": return `${who(event.seat)} plays ${event.pieces.length} (${playTypeLabel(event.play_type)})`;
    case "TrickWon": return `${who(event.seat)} wins trick ${event.trick} (${event.piles} piles)`;
    case "RedealGranted": return `${who(event.seat)} asks for a redeal: ×${event.multiplier}`;
    case "RoundScored": return `round ${event.round} scored`;
    case "GameOver": return "game over";
    case "PlayerDisconnected": return `${event.name} dropped: a bot plays for them`;
    case "PlayerReconnected": return `${event.name} is back`;
    case "RoomClosed": return `the room closed (${event.reason})`;
    default: return null;
  }
}

// --- screens --------------------------------------------------------------------------

function render() {
  document.body.dataset.screen = !saved.name ? "name" : saved.room ? "room" : "lobby";
  root.replaceChildren();
  if (!saved.name) return root.append(nameForm());
  if (!saved.room) return root.append(lobby());
  if (!view) return root.append(h("p", {}, `joining room ${saved.room}…`));
  root.append(table());
}

function nameForm() {
  const input = h("input", { id: "name", maxLength: 32, placeholder: "your name", autofocus: true });
  return h(
    "form",
    {
      className: "panel",
      onsubmit: (event) => {
        event.preventDefault();
        const name = input.value.trim();
        if (!name) return;
        saved = { name };
        persist();
        greet();
      },
    },
    h("h2", {}, "Liap Tui"),
    h("label", {}, "Name ", input),
    h("button", { id: "enter", type: "submit" }, "Enter the lobby"),
  );
}

async function showLobby() {
  render();
  await refreshRooms();
  clearInterval(lobbyTimer);
  lobbyTimer = setInterval(() => { if (!saved.room && greeted) refreshRooms(); }, 3000);
}

async function refreshRooms() {
  const reply = await request("list_rooms");
  if (reply.type === "rooms") rooms = reply.rooms;
  const shown = document.getElementById("rooms");
  if (!saved.room && shown) shown.replaceWith(roomsTable()); // keeps what is typed elsewhere
}

async function takeSeat(type, fields) {
  const reply = await command(type, fields);
  if (reply.type !== "ok") return;
  saved = { name: saved.name, room: reply.room, token: reply.token, version: 0, rounds: [], log: [] };
  persist();
  say(`in room ${reply.room}`);
  render();
}

function lobby() {
  const code = h("input", { id: "join-code", maxLength: 6, placeholder: "ROOM", size: 8 });
  return h(
    "section",
    { className: "panel lobby" },
    h("h2", {}, `Lobby — ${saved.name}`),
    h(
      "div",
      { className: "row" },
      h("button", { id: "create", onclick: () => takeSeat("create_room") }, "Create a room"),
      h(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            takeSeat("join_room", { room: code.value.trim().toUpperCase() });
          },
        },
        code,
        h("button", { id: "join", type: "submit" }, "Join by code"),
      ),
      h("button", { onclick: refreshRooms }, "Refresh"),
    ),
    roomsTable(),
  );
}

function roomsTable() {
  if (!rooms.length) return h("p", { id: "rooms", className: "muted" }, "No rooms yet: create one.");
  return h(
    "table",
    { id: "rooms" },
    h("tr", {}, h("th", {}, "room"), h("th", {}, "phase"), h("th", {}, "host"), h("th", {}, "seats"), h("th")),
    rooms.map((r) =>
      h(
        "tr",
        { dataset: { room: r.room } },
        h("td", { className: "code" }, r.room),
        h("td", {}, r.phase),
        h("td", {}, r.host ?? "—"),
        h("td", {}, r.seats.map((s, i) => s ?? `(P${i + 1} free)`).join(", ")),
        h(
          "td",
          {},
          r.phase === "WAITING" && r.seats.includes(null)
            ? h("button", { onclick: () => takeSeat("join_room", { room: r.room }) }, "Join")
            : null,
        ),
      ),
    ),
  );
}

// --- the table ------------------------------------------------------------------------

function table() {
  const v = view;
  document.body.dataset.phase = v.phase;
  document.body.dataset.myTurn = String(isMyMove());
  const over = v.phase === "GAME_OVER" || v.phase === "CLOSED";
  return h(
    "section",
    { className: "room" },
    h(
      "header",
      { className: "room-head" },
      h("h2", {}, "Room ", h("span", { id: "room-code", className: "code" }, v.room_id)),
      h("span", { id: "phase", className: "badge" }, v.phase),
      v.round ? h("span", { className: "badge" }, `round ${v.round}`) : null,
      v.multiplier > 1 ? h("span", { className: "badge hot" }, `×${v.multiplier}`) : null,
      h("a", { id: "replay-link", href: `/replay/${v.room_id}`, target: "_blank" }, "replay viewer"),
      h("button", { id: "leave", onclick: leave }, over ? "Back to the lobby" : "Leave"),
    ),
    over ? ending() : null,
    h("div", { className: "felt" }, v.seats.map(seatPanel), trickArea()),
    v.phase === "WAITING" ? waitingControls() : null,
    decisions(),
    hand(),
    scores(),
    h("ul", { id: "log", className: "log" }, (saved.log ?? []).map((line) => h("li", {}, line))),
  );
}

function isMyMove() {
  const v = view;
  if (!v || v.my_seat === null) return false;
  const me = v.seats[v.my_seat];
  return legal.length > 0 || v.legal_declarations.length > 0
    || (v.phase === "PREPARATION" && me.weak === true && me.redeal === null && v.hand.length > 0);
}

function seatPanel(seat) {
  const v = view;
  const badges = [];
  if (seat.seat === v.host) badges.push("host");
  if (seat.is_bot) badges.push("bot");
  else if (seat.name && !seat.connected) badges.push("away: a bot plays");
  if (seat.seat === v.my_seat) badges.push("you");
  const position = (seat.seat - (v.my_seat ?? 0) + 4) % 4; // you at the bottom
  return h(
    "div",
    {
      className: `seat at-${position}${seat.seat === v.turn ? " turn" : ""}`,
      dataset: { seat: seat.seat },
    },
    h("div", { className: "seat-name" }, seat.name ?? `P${seat.seat + 1} (empty)`),
    h("div", { className: "muted" }, badges.join(" · ")),
    seat.name
      ? h(
          "div",
          { className: "seat-stats" },
          `score ${seat.score}`,
          seat.declared !== null ? ` · declared ${seat.declared} · piles ${seat.piles}` : "",
          IN_GAME.includes(v.phase) ? ` · ${seat.hand_size} in hand` : "",
        )
      : null,
  );
}

function playRow(play, winning, seats) {
  return h(
    "div",
    { className: `play${winning ? " winning" : ""}`, dataset: { seat: play.seat } },
    h("span", { className: "who" }, seatName(seats, play.seat)),
    play.pieces.map((p) => pieceElement(p, { small: true })),
    h("span", { className: "muted" }, ` ${playTypeLabel(play.play_type)} ${play.value}`),
  );
}

function trickArea() {
  const v = view;
  if (v.plays.length) {
    return h(
      "div",
      { id: "trick", className: "trick" },
      h("div", { className: "muted" }, `trick ${v.trick}: ${v.required} piece(s) each`),
      v.plays.map((p, i) => playRow(p, i === v.winning, v.seats)),
    );
  }
  if (v.last_trick.length) {
    return h(
      "div",
      { id: "trick", className: "trick last" },
      h("div", { className: "muted" }, "last trick"),
      v.last_trick.map((p) => playRow(p, false, v.seats)),
    );
  }
  return h("div", { id: "trick", className: "trick" });
}

function waitingControls() {
  const v = view;
  if (v.my_seat !== v.host) return h("p", { className: "panel muted" }, "Waiting for the host to start.");
  const empty = v.seats.filter((s) => s.name === null);
  return h(
    "div",
    { className: "panel row", id: "host-controls" },
    v.seats.map((s) =>
      s.seat === v.host
        ? null
        : s.name === null
          ? h("button", { className: "add-bot", onclick: () => command("add_bot", { seat: s.seat }) }, `Bot in P${s.seat + 1}`)
          : h("button", { className: "remove", dataset: { seat: s.seat }, onclick: () => command("remove_player", { seat: s.seat }) }, `Remove ${s.name}`),
    ),
    h(
      "button",
      {
        id: "fill-bots",
        disabled: !empty.length,
        onclick: async () => { for (const s of empty) await command("add_bot", { seat: s.seat }); },
      },
      "Fill with bots",
    ),
    h("button", { id: "start", disabled: empty.length > 0, onclick: () => command("start") }, "Start"),
  );
}

function decisions() {
  const v = view;
  if (v.my_seat === null) return null;
  const me = v.seats[v.my_seat];
  if (v.phase === "PREPARATION" && me.weak === true && me.redeal === null && v.hand.length) {
    return h(
      "div",
      { className: "panel row", id: "redeal" },
      h("span", {}, "Your hand is weak (no piece above 9). Ask for a redeal?"),
      h("button", { id: "redeal-accept", onclick: () => command("redeal", { accept: true }) }, `Redeal (×${v.multiplier * 2})`),
      h("button", { id: "redeal-decline", onclick: () => command("redeal", { accept: false }) }, "Keep this hand"),
    );
  }
  if (v.legal_declarations.length) {
    return h(
      "div",
      { className: "panel row", id: "declare" },
      h("span", {}, "How many piles will you capture?"),
      v.legal_declarations.map((n) =>
        h("button", { className: "declare", dataset: { piles: n }, onclick: () => command("declare", { piles: n }) }, n),
      ),
    );
  }
  return null;
}

const key = (pieces) => [...pieces].sort().join(",");

/** Whether the multiset `some` fits inside the multiset `play`. */
function fits(some, play) {
  const left = [...play];
  for (const p of some) {
    const i = left.indexOf(p);
    if (i < 0) return false;
    left.splice(i, 1);
  }
  return true;
}

function hand() {
  const v = view;
  if (v.my_seat === null) return h("p", { className: "panel" }, "You have no seat in this room any more.");
  if (!v.hand.length) return null;
  const chosen = [...selected].map((i) => v.hand[i]);
  const ready = legal.some((p) => key(p) === key(chosen));
  const pieces = v.hand.map((kind, i) => {
    if (!legal.length) return pieceElement(kind); // not our play: just show the hand
    const piece = pieceElement(kind, { button: true });
    piece.dataset.index = i;
    const isChosen = selected.has(i);
    const usable = isChosen || legal.some((p) => fits([...chosen, kind], p));
    if (isChosen) piece.classList.add("selected");
    if (!usable) piece.classList.add("unusable");
    piece.disabled = !usable || playing;
    piece.addEventListener("click", () => {
      if (selected.has(i)) selected.delete(i);
      else selected.add(i);
      render();
    });
    return piece;
  });
  const required = v.plays.length ? v.required : null;
  return h(
    "div",
    { className: "panel", id: "my-hand" },
    h(
      "div",
      { className: "row" },
      h("strong", {}, "Your hand"),
      legal.length
        ? h("span", { className: "muted" }, required ? `play ${required} piece(s)` : "lead: pick a valid play")
        : null,
      legal.length
        ? h("button", { id: "play", disabled: !ready || playing, dataset: { pending: String(playing) }, onclick: () => play(chosen) }, playing ? "Playing…" : "Play")
        : null,
    ),
    h("div", { className: "hand" }, pieces),
  );
}

async function play(pieces) {
  playing = true;
  render();
  const reply = await request("play", { pieces });
  if (reply.type === "ok") {
    selected = new Set();
    say(`played ${pieces.length}`);
  } else if (reply.code === "too_early" || reply.code === "rate_limited") {
    // The last trick is still on show (engine clock): play it as soon as the table clears.
    const wait = Math.min(8, Math.max(0.2, view.lead_not_before - Date.now() / 1000));
    say(`the last trick is on show: your play goes in ${wait.toFixed(1)} s`);
    setTimeout(() => {
      if (legal.some((p) => key(p) === key(pieces))) play(pieces);
      else { playing = false; render(); }
    }, wait * 1000);
    return;
  } else if (reply.code !== "closed") {
    say(`${reply.code}: ${reply.message}`, "error");
  }
  playing = false;
  render();
}

function scores() {
  const rounds = saved.rounds ?? [];
  if (!rounds.length) return null;
  const v = view;
  return h(
    "table",
    { id: "scores", className: "panel" },
    h("tr", {}, h("th", {}, "round"), v.seats.map((s) => h("th", {}, seatName(v.seats, s.seat)))),
    rounds.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, r.multiplier > 1 ? `${r.round} (×${r.multiplier})` : r.round),
        r.scores.map((score, i) =>
          h("td", { title: `declared ${r.declared[i]}, captured ${r.captured[i]}` },
            `${r.declared[i]}/${r.captured[i]} → ${score > 0 ? "+" : ""}${score}`),
        ),
      ),
    ),
    h("tr", { className: "totals" }, h("th", {}, "total"), rounds.at(-1).totals.map((t) => h("th", {}, t))),
  );
}

function ending() {
  const v = view;
  if (v.phase === "CLOSED") return h("p", { id: "game-over", className: "panel banner" }, "The room is closed.");
  const names = v.winners.map((s) => seatName(v.seats, s)).join(" and ");
  return h("p", { id: "game-over", className: "panel banner" }, `Game over: ${names} won.`);
}

async function leave() {
  if (view && view.phase !== "GAME_OVER" && view.phase !== "CLOSED"
      && !confirm("Leave this room? A bot plays your seat during a game.")) return;
  await request("leave");
  forgetRoom();
  showLobby();
}

persist();
render();
connect();
