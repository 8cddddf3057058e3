// graphkit's interactive view: lays out the scope tree embedded in #graph-data and draws it as SVG.
// Each expanded scope is laid out on its own (layers by longest path, barycentre ordering) and
// becomes one large box in its parent's layout; a click on a scope, series or function opens or
// closes it. No network, no libraries.
(function () {
  "use strict";
  const started = performance.now();
  const D = JSON.parse(document.getElementById("graph-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const CHAR = 6.2, LINE = 13, PAD = 10, GAP_X = 18, GAP_Y = 30, TITLE = 18;
  const expanded = new Set(D.expanded);
  const parentOf = (p) => { const i = p.lastIndexOf("/"); return i > 0 ? p.slice(0, i) : ""; };
  const lastOf = (p) => p.slice(p.lastIndexOf("/") + 1);

  // The scope tree: every prefix of an op name is a scope; an op named like a scope is its head.
  const scopes = new Map();
  function scope(path) {
    let s = scopes.get(path);
    if (!s) {
      s = { path: path, kids: [], ops: [], count: 0 };
      scopes.set(path, s);
      if (path !== "") scope(parentOf(path)).kids.push(path);
    }
    return s;
  }
  scope("");
  const ops = D.ops.map((o) => ({ name: o[0], type: o[1], kind: o[2], count: o[3], tip: o[4] }));
  const prefixes = new Set();
  for (const op of ops) {
    let p = parentOf(op.name);
    while (p && !prefixes.has(p)) { prefixes.add(p); p = parentOf(p); }
  }
  for (const op of ops) {
    op.home = prefixes.has(op.name) ? op.name : parentOf(op.name);
    const s = scope(op.home);
    s.ops.push(op);
    for (let p = op.home; ; p = parentOf(p)) { scope(p).count += op.count; if (!p) break; }
  }

  // The box an op is drawn in: its outermost collapsed scope, or itself.
  function visibleChain(op) {
    const chain = [];
    if (op.home) {
      const parts = op.home.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join("/");
        chain.push("s:" + p);
        if (!expanded.has(p)) return chain;
      }
    }
    chain.push("o:" + op.name);
    return chain;
  }

  function boxSize(lines) {
    const width = Math.max(...lines.map((l) => l.length)) * CHAR + 2 * PAD;
    return [Math.max(width, 40), lines.length * LINE + 8];
  }

  // Lays out the contents of an expanded scope; returns {w, h, items, edges} in local coordinates.
  function layout(path, chains, edgesAt) {
    const s = scopes.get(path);
    const items = new Map();
    for (const kid of s.kids) {
      const k = scopes.get(kid);
      if (expanded.has(kid)) {
        const inner = layout(kid, chains, edgesAt);
        items.set("s:" + kid, { id: "s:" + kid, kind: "frame", path: kid, label: lastOf(kid),
                                w: inner.w, h: inner.h, inner: inner });
      } else {
        const detail = D.series[kid] || (k.count + " ops");
        const lines = [lastOf(kid), detail];
        const [w, h] = boxSize(lines);
        items.set("s:" + kid, { id: "s:" + kid, kind: "scope", path: kid, lines: lines, w: w, h: h,
                                tip: kid + "\n" + k.count + " ops" });
      }
    }
    for (const op of s.ops) {
      const lines = [lastOf(op.name), op.count > 1 ? op.type + " · " + op.count + " ops" : op.type];
      const [w, h] = boxSize(lines);
      items.set("o:" + op.name, { id: "o:" + op.name, kind: op.kind, lines: lines, w: w, h: h,
                                  tip: op.tip || op.name });
    }
    const local = edgesAt.get(path) || [];
    const order = rankAndOrder([...items.keys()], local);
    let y = PAD + (path ? TITLE : 0), width = 0;
    const rows = [];
    for (const row of order) {
      const rowItems = row.map((id) => items.get(id));
      const rowWidth = rowItems.reduce((a, it) => a + it.w, 0) + GAP_X * (rowItems.length - 1);
      const rowHeight = Math.max(...rowItems.map((it) => it.h));
      rows.push({ items: rowItems, width: rowWidth, y: y, height: rowHeight });
      width = Math.max(width, rowWidth);
      y += rowHeight + GAP_Y;
    }
    const w = Math.max(width + 2 * PAD, lastOf(path).length * CHAR + 2 * PAD);
    for (const row of rows) {
      let x = (w - row.width) / 2;
      for (const it of row.items) {
        it.x = x; it.y = row.y + (row.height - it.h) / 2; x += it.w + GAP_X;
      }
    }
    return { w: w, h: y - GAP_Y + PAD, items: [...items.values()] };
  }

  // Layers by longest path from the sources (back edges of a DFS ignored), then two barycentre sweeps.
  function rankAndOrder(ids, edges) {
    const index = new Map(ids.map((id, i) => [id, i]));
    const out = ids.map(() => []), inc = ids.map(() => []);
    for (const [a, b] of edges) {
      const i = index.get(a), j = index.get(b);
      if (i !== undefined && j !== undefined && i !== j) { out[i].push(j); inc[j].push(i); }
    }
    const state = new Array(ids.length).fill(0), topo = [];
    const forward = ids.map(() => new Set());
    for (let root = 0; root < ids.length; root++) {
      if (state[root]) continue;
      const stack = [[root, 0]];
      state[root] = 1;
      while (stack.length) {
        const top = stack[stack.length - 1];
        const [v, k] = top;
        if (k < out[v].length) {
          top[1]++;
          const w = out[v][k];
          if (state[w] === 0) { forward[v].add(w); state[w] = 1; stack.push([w, 0]); }
          else if (state[w] === 2) forward[v].add(w);
        } else { state[v] = 2; topo.push(v); stack.pop(); }
      }
    }
    topo.reverse();
    const rank = new Array(ids.length).fill(0);
    for (const v of topo) for (const w of forward[v]) rank[w] = Math.max(rank[w], rank[v] + 1);
    const rows = [];
    topo.forEach((v) => { (rows[rank[v]] = rows[rank[v]] || []).push(v); });
    const pos = new Array(ids.length).fill(0);
    const place = (row) => row.forEach((v, i) => { pos[v] = i; });
    rows.forEach(place);
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let r = 1; r < rows.length; r++) {
        const bary = (v) => inc[v].length ? inc[v].reduce((a, u) => a + pos[u], 0) / inc[v].length : pos[v];
        rows[r].sort((a, b) => bary(a) - bary(b)); place(rows[r]);
      }
      for (let r = rows.length - 2; r >= 0; r--) {
        const bary = (v) => out[v].length ? out[v].reduce((a, u) => a + pos[u], 0) / out[v].length : pos[v];
        rows[r].sort((a, b) => bary(a) - bary(b)); place(rows[r]);
      }
    }
    return rows.filter((row) => row).map((row) => row.map((v) => ids[v]));
  }

  const svg = document.getElementById("canvas");
  const viewport = document.getElementById("viewport");
  function el(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function draw() {
    // Visible box of every op, the edges between visible boxes, each at the scope that holds both ends.
    const chains = ops.map(visibleChain);
    const edgesAt = new Map(), seen = new Set(), drawn = [];
    for (const [a, b] of D.edges) {
      const ca = chains[a], cb = chains[b];
      const ta = ca[ca.length - 1], tb = cb[cb.length - 1];
      if (ta === tb || seen.has(ta + "\u0000" + tb)) continue;
      seen.add(ta + "\u0000" + tb);
      let i = 0;
      while (i < ca.length && i < cb.length && ca[i] === cb[i]) i++;
      const at = i === 0 ? "" : ca[i - 1].slice(2);
      if (!edgesAt.has(at)) edgesAt.set(at, []);
      edgesAt.get(at).push([ca[i], cb[i]]);
      drawn.push([ta, tb]);
    }
    const root = layout("", chains, edgesAt);
    viewport.textContent = "";
    const where = new Map();
    const edgeLayer = el("g", { class: "edges" }, null);
    function paint(lay, ox, oy, parent) {
      for (const it of lay.items) {
        const x = ox + it.x, y = oy + it.y;
        where.set(it.id, [x, y, it.w, it.h]);
        const g = el("g", { class: "node " + it.kind, "data-id": it.id }, parent);
        if (it.path !== undefined) g.setAttribute("data-path", it.path);
        if (it.kind === "frame") {
          el("rect", { x: x, y: y, width: it.w, height: it.h, rx: 6 }, g);
          const t = el("text", { x: x + 8, y: y + 14, class: "title" }, g);
          t.textContent = it.label + "  \u2212";
          paint(it.inner, x, y, g);
        } else {
          el("rect", { x: x, y: y, width: it.w, height: it.h, rx: it.kind === "op" ? 6 : 2 }, g);
          it.lines.forEach((line, n) => {
            const t = el("text", { x: x + it.w / 2, y: y + 14 + n * LINE, "text-anchor": "middle" }, g);
            t.textContent = line;
          });
          el("title", {}, g).textContent = it.tip;
        }
      }
    }
    paint(root, 0, 0, viewport);
    viewport.insertBefore(edgeLayer, viewport.firstChild);
    for (const [a, b] of drawn) {
      const p = where.get(a), q = where.get(b);
      if (!p || !q) continue;
      const x1 = p[0] + p[2] / 2, y1 = p[1] + p[3], x2 = q[0] + q[2] / 2, y2 = q[1];
      const mid = (y1 + y2) / 2;
      el("path", { d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`, "data-edge": a + " -> " + b },
         edgeLayer);
    }
    document.body.dataset.nodes = String(where.size);
    return root;
  }

  // Pan (drag) and zoom (wheel) by the viewport's transform.
  let scale = 1, tx = 0, ty = 0;
  const apply = () => viewport.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`);
  function fit(root) {
    const W = svg.clientWidth || 1200, H = svg.clientHeight || 800;
    scale = Math.min(1, W / (root.w + 20), H / (root.h + 20));
    tx = (W - root.w * scale) / 2; ty = 10; apply();
  }
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const factor = Math.exp(-e.deltaY * 0.0015);
    tx = e.offsetX - (e.offsetX - tx) * factor; ty = e.offsetY - (e.offsetY - ty) * factor;
    scale *= factor; apply();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (e) => { drag = [e.clientX - tx, e.clientY - ty, e.clientX, e.clientY]; });
  window.addEventListener("mousemove", (e) => {
    if (drag) { tx = e.clientX - drag[0]; ty = e.clientY - drag[1]; apply(); }
  });
  window.addEventListener("mouseup", () => { drag = null; });

  // A click on a collapsed scope opens it; on an open scope's title, closes it.
  svg.addEventListener("click", (e) => {
    const g = e.target.closest("g.scope, g.frame");
    if (!g || (g.classList.contains("frame") && !e.target.classList.contains("title"))) return;
    const path = g.getAttribute("data-path");
    const t0 = performance.now();
    if (expanded.has(path)) {
      for (const p of [...expanded]) if (p === path || p.startsWith(path + "/")) expanded.delete(p);
    } else {
      expanded.add(path);
    }
    draw();
    document.body.dataset.expandMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.expanded = [...expanded].sort().join("\n");
  });

  fit(draw());
  document.body.dataset.openMs = performance.now().toFixed(1);
  document.body.dataset.scriptMs = (performance.now() - started).toFixed(1);
  // #expand=a,b clicks those scopes in turn (how a link, or a test, opens a view).
  const wanted = new URLSearchParams(location.hash.slice(1)).get("expand");
  if (wanted) {
    for (const path of wanted.split(",")) {
      const target = [...document.querySelectorAll("g.scope")].find((g) => g.getAttribute("data-path") === path);
      if (target) target.querySelector("rect").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    }
  }
  document.body.dataset.ready = "1";
})();
