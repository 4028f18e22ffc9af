// Shared by the game page and the replay viewer: building elements and drawing pieces.

const RED_POINTS = {
  GENERAL: 14, ADVISOR: 12, ELEPHANT: 10, CHARIOT: 8, HORSE: 6, CANNON: 4, SOLDIER: 2,
};
const LABELS = {
  GENERAL: "General", ADVISOR: "Advisor", ELEPHANT: "Elephant", CHARIOT: "Chariot",
  HORSE: "Horse", CANNON: "Cannon", SOLDIER: "Soldier",
};

/** An element with properties (dataset, className, on* handlers...) and children.
 * Strings become text nodes, so names typed by players are never parsed as HTML. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

/** A piece kind such as "CHARIOT_RED" split into its name and colour. */
export function parts(kind) {
  const cut = kind.lastIndexOf("_");
  return { name: kind.slice(0, cut), colour: kind.slice(cut + 1) };
}

/** Points of a piece: red as in the rules table, black one less. */
export function points(kind) {
  const { name, colour } = parts(kind);
  return RED_POINTS[name] - (colour === "RED" ? 0 : 1);
}

/** A drawn piece: a round token in its colour with its name and value.
 * With `button`, a <button> the player can click. */
export function pieceElement(kind, { button = false, small = false } = {}) {
  const { name, colour } = parts(kind);
  const classes = ["piece", colour.toLowerCase()];
  if (small) classes.push("small");
  return h(
    button ? "button" : "span",
    {
      className: classes.join(" "),
      title: `${LABELS[name]}, ${colour.toLowerCase()}, ${points(kind)} points`,
      dataset: { piece: kind },
      type: button ? "button" : undefined,
    },
    h("span", { className: "glyph" }, small ? LABELS[name].slice(0, 3) : LABELS[name]),
    h("span", { className: "value" }, points(kind)),
  );
}

/** The label of a seat: its name, or "P2" for an empty one. */
export function seatName(seats, seat) {
  const who = seats[seat];
  const name = who && typeof who === "object" ? who.name : who;
  return name ?? `P${seat + 1}`;
}

export function playTypeLabel(type) {
  return type.toLowerCase().replaceAll("_", " ");
}
