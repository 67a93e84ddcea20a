// towpath console: small progressive enhancements; every page works without them.

// Keyboard navigation of lists: ArrowDown/ArrowUp (or j/k) move between rows' first links.
function keynav(table) {
  const links = () => [...table.querySelectorAll("tbody tr")].map((tr) => tr.querySelector("a")).filter(Boolean);
  table.addEventListener("keydown", (event) => {
    const keys = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 };
    if (!(event.key in keys)) return;
    const all = links();
    const at = all.indexOf(document.activeElement);
    if (at === -1) return;
    const next = all[Math.min(all.length - 1, Math.max(0, at + keys[event.key]))];
    if (next) { next.focus(); event.preventDefault(); }
  });
}

// Live list: refresh the table body from the same URL every few seconds (the server renders it).
function live(table) {
  const refresh = async () => {
    if (document.hidden || table.contains(document.activeElement)) return;
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("table[data-live] tbody");
    if (fresh) table.querySelector("tbody").replaceWith(fresh);
  };
  setInterval(refresh, 5000);
}

// Pan (drag) and zoom (wheel, buttons) of a server-drawn SVG graph, by moving its viewBox.
function zoomable(box) {
  const svg = box.querySelector("svg");
  if (!svg) return;
  const base = svg.viewBox.baseVal;
  const start = { x: base.x, y: base.y, w: base.width, h: base.height };
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", Math.min(start.h, window.innerHeight * 0.7));
  const set = (x, y, w, h) => svg.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
  const zoom = (factor, cx = 0.5, cy = 0.5) => {
    const v = svg.viewBox.baseVal;
    const w = v.width * factor, h = v.height * factor;
    set(v.x + (v.width - w) * cx, v.y + (v.height - h) * cy, w, h);
  };
  box.addEventListener("wheel", (event) => {
    event.preventDefault();
    const r = svg.getBoundingClientRect();
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, (event.clientX - r.left) / r.width, (event.clientY - r.top) / r.height);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest("a")) return;
    drag = { x: event.clientX, y: event.clientY, v: { ...svg.viewBox.baseVal } };
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const v = svg.viewBox.baseVal;
    set(drag.v.x - (event.clientX - drag.x) * v.width / r.width, drag.v.y - (event.clientY - drag.y) * v.height / r.height,
        v.width, v.height);
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  box.querySelector("[data-zoom-in]")?.addEventListener("click", () => zoom(1 / 1.25));
  box.querySelector("[data-zoom-out]")?.addEventListener("click", () => zoom(1.25));
  box.querySelector("[data-zoom-reset]")?.addEventListener("click", () => set(start.x, start.y, start.w, start.h));
}

// Charts: the Vega-Lite spec sits in the figure as JSON; vega-embed draws it as SVG.
function draw(figure) {
  const spec = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
  const target = document.createElement("div");
  target.className = "vega-target";
  figure.appendChild(target);
  window.vegaEmbed(target, spec, { renderer: "svg", actions: false })
    .then(() => figure.setAttribute("data-drawn", "true"))
    .catch((error) => { figure.setAttribute("data-error", String(error)); target.textContent = String(error); });
}

function start() {
  document.querySelectorAll("table[data-keynav]").forEach(keynav);
  document.querySelectorAll("table[data-live]").forEach(live);
  document.querySelectorAll(".zoomable").forEach(zoomable);
  const charts = document.querySelectorAll("figure[data-vega]");
  if (charts.length) {
    const ready = () => window.vegaEmbed ? charts.forEach(draw) : setTimeout(ready, 20);
    ready();
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
