// The floor canvas: the map drawn once per pan/zoom into a cached layer, robots on top each
// frame. World coordinates are metres with y up; the view is a scale (pixels per metre)
// and an offset, changed by dragging and the mouse wheel.

export const STATE_COLOURS = {
  idle: "#3d8bd9", moving: "#27ae60", acting: "#8e44ad", charging: "#e0b000",
  paused: "#e67e22", fault: "#e74c3c", silent: "#7f8c8d", recorded: "#2d6fb3",
};

const STATION_COLOURS = {
  pickup: "#1f9d55", dropoff: "#c05621", buffer: "#718096", weld_cell: "#6b46c1",
  charger: "#d69e2e", parking: "#2b6cb0",
};

function polygon(xy) {
  const points = [];
  for (let i = 0; i + 1 < xy.length; i += 2) points.push([xy[i], xy[i + 1]]);
  return points;
}

export class FloorView {
  constructor(canvas, floor) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.floor = floor;
    this.outline = polygon(floor.outline.xy);
    this.obstacles = floor.obstacles.map((o) => polygon(o.xy));
    this.zones = (floor.zones || []).map((z) => ({ ...z, points: polygon(z.polygon.xy) }));
    this.stations = floor.stations;
    this.layer = document.createElement("canvas");
    this.layerKey = "";
    this.robots = [];
    this.selected = null;
    this.onSelect = () => {};
    this.onHover = () => {};
    const xs = this.outline.map((p) => p[0]), ys = this.outline.map((p) => p[1]);
    this.bounds = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    this.scale = 1; this.ox = 0; this.oy = 0;
    this.stats = { floorDraws: 0, robotDraws: 0, robotsDrawn: [], stationsDrawn: 0,
                   obstaclesDrawn: 0, zonesDrawn: 0 };
    this.bindInput();
    this.resize();
    this.fit();
    new ResizeObserver(() => { this.resize(); this.draw(); }).observe(canvas);
  }

  resize() {
    const r = this.canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.dpr = dpr;
  }

  fit() {
    const [x0, y0, x1, y1] = this.bounds, w = this.canvas.width, h = this.canvas.height;
    this.scale = 0.95 * Math.min(w / (x1 - x0 || 1), h / (y1 - y0 || 1));
    this.ox = (w - this.scale * (x1 - x0)) / 2 - this.scale * x0;
    this.oy = (h + this.scale * (y1 - y0)) / 2 + this.scale * y0;
  }

  toScreen(x, y) { return [this.ox + this.scale * x, this.oy - this.scale * y]; }
  toWorld(px, py) { return [(px - this.ox) / this.scale, (this.oy - py) / this.scale]; }

  bindInput() {
    let drag = null;
    this.canvas.addEventListener("mousedown", (e) => {
      drag = { x: e.clientX, y: e.clientY, ox: this.ox, oy: this.oy, moved: false };
    });
    this.canvas.addEventListener("mousemove", (e) => {
      if (!drag) this.onHover(this.robotAt(e), e);
    });
    this.canvas.addEventListener("mouseleave", (e) => this.onHover(null, e));
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      const dx = (e.clientX - drag.x) * this.dpr, dy = (e.clientY - drag.y) * this.dpr;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      this.ox = drag.ox + dx; this.oy = drag.oy + dy;
      this.draw();
    });
    window.addEventListener("mouseup", (e) => {
      if (drag && !drag.moved) this.click(e);
      drag = null;
    });
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.canvas.getBoundingClientRect();
      const px = (e.clientX - r.left) * this.dpr, py = (e.clientY - r.top) * this.dpr;
      const k = Math.exp(-e.deltaY * 0.0015);
      this.ox = px - k * (px - this.ox); this.oy = py - k * (py - this.oy);
      this.scale *= k;
      this.draw();
    }, { passive: false });
  }

  // The robot drawn under the pointer, or null: the nearest within its footprint (or 8
  // pixels, when drawn small).
  robotAt(e) {
    const r = this.canvas.getBoundingClientRect();
    const [x, y] = this.toWorld((e.clientX - r.left) * this.dpr, (e.clientY - r.top) * this.dpr);
    let best = null, bestD = Infinity;
    for (const robot of this.robots) {
      const d = Math.hypot(robot.x - x, robot.y - y);
      if (d < Math.max(robot.radius_m * 1.5, 8 / this.scale) && d < bestD) { best = robot; bestD = d; }
    }
    return best;
  }

  click(e) {
    const best = this.robotAt(e);
    this.selected = best ? best.id : null;
    this.onSelect(this.selected);
    this.draw();
  }

  path(points) {
    const c = this.ctx;
    c.beginPath();
    points.forEach(([x, y], i) => {
      const [px, py] = this.toScreen(x, y);
      if (i === 0) c.moveTo(px, py); else c.lineTo(px, py);
    });
  }

  drawFloorLayer() {
    const key = [this.canvas.width, this.canvas.height, this.scale, this.ox, this.oy].join();
    if (key === this.layerKey) return;
    this.layerKey = key;
    this.layer.width = this.canvas.width; this.layer.height = this.canvas.height;
    const saved = this.ctx;
    const c = this.ctx = this.layer.getContext("2d");
    c.clearRect(0, 0, this.layer.width, this.layer.height);
    this.path(this.outline); c.closePath();
    c.fillStyle = "#fbfcfd"; c.fill(); c.strokeStyle = "#33414f"; c.lineWidth = 2; c.stroke();
    for (const z of this.zones) {
      this.path(z.points); c.closePath();
      c.fillStyle = z.kind === "keep_out" ? "rgba(220,50,50,0.18)" : "rgba(240,200,40,0.22)";
      c.fill();
      c.setLineDash([6, 4]); c.strokeStyle = z.kind === "keep_out" ? "#c0392b" : "#b7950b";
      c.lineWidth = 1; c.stroke(); c.setLineDash([]);
    }
    c.fillStyle = "#5d6975";
    for (const o of this.obstacles) { this.path(o); c.closePath(); c.fill(); }
    const labels = this.scale * 1.2 > 9;  // ids only where they stay readable
    c.font = `${Math.round(10 * this.dpr)}px sans-serif`;
    for (const s of this.stations) {
      const [px, py] = this.toScreen(s.pose.x, s.pose.y);
      const size = Math.max(4 * this.dpr, 0.5 * this.scale);
      c.fillStyle = STATION_COLOURS[s.kind] || "#555";
      if (s.kind === "charger") {
        c.beginPath(); c.moveTo(px, py - size); c.lineTo(px + size, py + size * 0.8);
        c.lineTo(px - size, py + size * 0.8); c.closePath(); c.fill();
      } else if (s.kind === "parking") {
        c.strokeStyle = c.fillStyle; c.lineWidth = 2;
        c.strokeRect(px - size, py - size, 2 * size, 2 * size);
      } else {
        c.fillRect(px - size * 0.8, py - size * 0.8, 1.6 * size, 1.6 * size);
      }
      if (labels) { c.fillStyle = "#2d3748"; c.fillText(s.id, px + size + 2, py - 2); }
    }
    this.stats.floorDraws += 1;
    this.stats.stationsDrawn = this.stations.length;
    this.stats.obstaclesDrawn = this.obstacles.length;
    this.stats.zonesDrawn = this.zones.length;
    this.ctx = saved;
  }

  setRobots(robots) { this.robots = robots; this.draw(); }

  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    this.drawFloorLayer();
    const c = this.ctx;
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    c.drawImage(this.layer, 0, 0);
    const drawn = [];
    for (const r of this.robots) {
      const colour = STATE_COLOURS[r.state] || "#333";
      if (r.planned && r.planned.length > 1) {
        this.path(r.planned); c.setLineDash([4, 4]); c.strokeStyle = "rgba(60,60,60,0.45)";
        c.lineWidth = 1.5 * this.dpr; c.stroke(); c.setLineDash([]);
      }
      if (r.released && r.released.length > 1) {
        this.path([[r.x, r.y], ...r.released.slice(1)]); c.strokeStyle = colour;
        c.lineWidth = 2.5 * this.dpr; c.stroke();
      }
    }
    c.font = `${Math.round(10 * this.dpr)}px sans-serif`;
    for (const r of this.robots) {
      const colour = STATE_COLOURS[r.state] || "#333";
      const [px, py] = this.toScreen(r.x, r.y);
      const rad = Math.max(3 * this.dpr, r.radius_m * this.scale);
      c.beginPath(); c.arc(px, py, rad, 0, 2 * Math.PI);
      c.fillStyle = colour; c.globalAlpha = 0.85; c.fill(); c.globalAlpha = 1;
      c.lineWidth = r.id === this.selected ? 3 * this.dpr : 1;
      c.strokeStyle = r.id === this.selected ? "#000" : "#fff"; c.stroke();
      c.beginPath(); c.moveTo(px, py);
      c.lineTo(px + rad * Math.cos(r.theta), py - rad * Math.sin(r.theta));
      c.strokeStyle = "#fff"; c.lineWidth = 2 * this.dpr; c.stroke();
      if (r.load_id) {
        const s = rad * 0.55;
        c.fillStyle = "#5c3d1e"; c.fillRect(px - s / 2, py - s / 2, s, s);
      }
      c.fillStyle = "#111"; c.fillText(r.id, px + rad + 2, py + rad);
      drawn.push(r.id);
    }
    this.stats.robotDraws += 1;
    this.stats.robotsDrawn = drawn;
  }
}
