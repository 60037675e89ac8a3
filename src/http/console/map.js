// A small slippy map: Web Mercator, a canvas background (raster tiles when a tile URL is
// configured, otherwise a faint dot cloud of the embedded commune centres) and an SVG overlay
// for the search radius and the result markers. No tile server is needed to use it.

import { h, svg, clear } from './dom.js';
import { t } from './i18n.js';

const TILE = 256;
const MIN_ZOOM = 1;
const MAX_ZOOM = 18;
const EARTH_RADIUS_KM = 6371.0088;

function project(lat, lon) {
  const clamped = Math.max(Math.min(lat, 85.05112878), -85.05112878);
  const s = Math.sin((clamped * Math.PI) / 180);
  return {
    x: (lon + 180) / 360,
    y: 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI),
  };
}

function unproject(x, y) {
  const lon = x * 360 - 180;
  const n = Math.PI - 2 * Math.PI * y;
  const lat = (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)));
  return { lat, lon };
}

/** Point at `distanceKm` from (lat, lon) on bearing `bearing` (radians), on the sphere. */
function destination(lat, lon, distanceKm, bearing) {
  const d = distanceKm / EARTH_RADIUS_KM;
  const p1 = (lat * Math.PI) / 180;
  const l1 = (lon * Math.PI) / 180;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(bearing));
  const l2 = l1 + Math.atan2(Math.sin(bearing) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return { lat: (p2 * 180) / Math.PI, lon: (((l2 * 180) / Math.PI + 540) % 360) - 180 };
}

let dotsPromise = null;

/** The dot cloud is shared by every map of the page and fetched once. */
function loadDots() {
  if (!dotsPromise) {
    dotsPromise = fetch('data/france-dots.json')
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (!data?.cells) return null;
        const points = [];
        for (let i = 0; i + 2 < data.cells.length; i += 3) {
          const p = project(data.cells[i] / data.scale, data.cells[i + 1] / data.scale);
          points.push(p.x, p.y, data.cells[i + 2]);
        }
        return new Float64Array(points);
      })
      .catch(() => null);
  }
  return dotsPromise;
}

// Metropolitan France with Corsica.
const FRANCE = { south: 41.2, west: -5.3, north: 51.2, east: 9.7 };

export class MapView {
  /**
   * @param {HTMLElement} container
   * @param {{tileUrl?: string|null, label: string, onPick?: Function, onSelect?: Function}} options
   */
  constructor(container, options) {
    this.options = options;
    this.tileUrl = options.tileUrl || null;
    this.center = project(46.6, 2.4);
    this.zoom = 5;
    this.markers = [];
    this.circle = null;
    this.selected = null;
    this.tiles = new Map();
    this.dots = null;

    this.canvas = h('canvas', { class: 'map-canvas', 'aria-hidden': 'true' });
    this.overlay = svg('svg', {
      class: 'map-overlay',
      tabindex: '0',
      role: 'application',
      'aria-roledescription': t('map.roledescription'),
      'aria-label': options.label,
      'aria-describedby': `${options.id || 'map'}-help`,
    });
    this.circleLayer = svg('g', { class: 'map-circle-layer' });
    this.markerLayer = svg('g', { class: 'map-marker-layer' });
    this.overlay.append(this.circleLayer, this.markerLayer);
    const zoomIn = h('button', { type: 'button', class: 'map-button', 'aria-label': t('map.zoomIn'), title: t('map.zoomIn'), onclick: () => this.zoomBy(1) }, '+');
    const zoomOut = h('button', { type: 'button', class: 'map-button', 'aria-label': t('map.zoomOut'), title: t('map.zoomOut'), onclick: () => this.zoomBy(-1) }, '−');
    const fit = h('button', { type: 'button', class: 'map-button', 'aria-label': t('map.fit'), title: t('map.fit'), onclick: () => this.fitContent() }, '⤢');
    this.attribution = h('div', { class: 'map-attribution' });
    this.help = h('p', { id: `${options.id || 'map'}-help`, class: 'map-help' }, t(options.onPick ? 'map.help' : 'map.helpNoPick'));
    this.root = h('div', { class: 'map', id: options.id || null },
      this.canvas, this.overlay,
      h('div', { class: 'map-controls' }, zoomIn, zoomOut, fit),
      this.attribution);
    clear(container).append(this.root, this.help);
    this.attribution.textContent = this.tileUrl ? t('map.tiles', { host: hostOf(this.tileUrl) }) : t('map.noTiles');

    this.bindEvents();
    // Until the user moves the map, a new size re-fits the content (first layout, rotation).
    this.userMoved = false;
    this.resizeObserver = new ResizeObserver(() => (this.userMoved ? this.render() : this.fitContent()));
    this.resizeObserver.observe(this.root);
    if (!this.tileUrl) {
      loadDots().then((dots) => { this.dots = dots; this.render(); });
    }
    this.fitContent();
  }

  destroy() {
    this.resizeObserver.disconnect();
  }

  get width() { return this.root.clientWidth || 1; }
  get height() { return this.root.clientHeight || 1; }
  get worldSize() { return TILE * 2 ** this.zoom; }

  toScreen(lat, lon) {
    const p = project(lat, lon);
    return this.worldToScreen(p.x, p.y);
  }

  worldToScreen(x, y) {
    const size = this.worldSize;
    return { x: (x - this.center.x) * size + this.width / 2, y: (y - this.center.y) * size + this.height / 2 };
  }

  screenToLatLon(sx, sy) {
    const size = this.worldSize;
    return unproject(this.center.x + (sx - this.width / 2) / size, this.center.y + (sy - this.height / 2) / size);
  }

  setZoom(zoom, anchor) {
    const next = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom));
    if (anchor) {
      // Keep the world point under the cursor where it is.
      const before = this.screenToLatLon(anchor.x, anchor.y);
      this.zoom = next;
      const p = project(before.lat, before.lon);
      const size = this.worldSize;
      this.center = { x: p.x - (anchor.x - this.width / 2) / size, y: p.y - (anchor.y - this.height / 2) / size };
    } else {
      this.zoom = next;
    }
    this.render();
  }

  zoomBy(delta, anchor) {
    this.userMoved = true;
    this.setZoom(this.zoom + delta, anchor);
  }

  panBy(dx, dy) {
    this.userMoved = true;
    const size = this.worldSize;
    this.center = { x: this.center.x + dx / size, y: Math.max(0, Math.min(1, this.center.y + dy / size)) };
    this.render();
  }

  fitBounds(bounds, padding = 28) {
    const nw = project(bounds.north, bounds.west);
    const se = project(bounds.south, bounds.east);
    const w = Math.max(this.width - 2 * padding, 40);
    const hgt = Math.max(this.height - 2 * padding, 40);
    const dx = Math.max(Math.abs(se.x - nw.x), 1e-9);
    const dy = Math.max(Math.abs(se.y - nw.y), 1e-9);
    const zoom = Math.log2(Math.min(w / (dx * TILE), hgt / (dy * TILE)));
    this.center = { x: (nw.x + se.x) / 2, y: (nw.y + se.y) / 2 };
    this.zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM - 3, zoom));
    this.render();
  }

  /** Fit the radius circle and the markers, or France when there is nothing. */
  fitContent() {
    this.userMoved = false;
    const points = this.markers.map((m) => ({ lat: m.lat, lon: m.lon }));
    if (this.circle) {
      for (const bearing of [0, Math.PI / 2, Math.PI, (3 * Math.PI) / 2]) {
        points.push(destination(this.circle.lat, this.circle.lon, this.circle.radiusKm, bearing));
      }
    }
    if (points.length === 0) {
      this.fitBounds(FRANCE);
      return;
    }
    let bounds = {
      south: Math.min(...points.map((p) => p.lat)),
      north: Math.max(...points.map((p) => p.lat)),
      west: Math.min(...points.map((p) => p.lon)),
      east: Math.max(...points.map((p) => p.lon)),
    };
    // A single place (or a tight cluster) is shown with ~10 km of surroundings.
    if (bounds.north - bounds.south < 0.1 && bounds.east - bounds.west < 0.15) {
      const lat = (bounds.north + bounds.south) / 2;
      const lon = (bounds.east + bounds.west) / 2;
      bounds = { south: lat - 0.05, north: lat + 0.05, west: lon - 0.075, east: lon + 0.075 };
    }
    this.fitBounds(bounds);
  }

  /** @param {{key: string, offerId: string, locationId: string, lat: number, lon: number, rank: number, title: string}[]} markers */
  setMarkers(markers) {
    this.markers = markers;
    this.render();
  }

  setCircle(circle) {
    this.circle = circle;
    this.render();
  }

  select(offerId) {
    this.selected = offerId;
    for (const node of this.markerLayer.querySelectorAll('.marker')) {
      node.classList.toggle('selected', node.dataset.offer === offerId);
    }
  }

  bindEvents() {
    let drag = null;
    this.overlay.addEventListener('pointerdown', (event) => {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, moved: false, target: event.target };
      this.overlay.setPointerCapture(event.pointerId);
    });
    this.overlay.addEventListener('pointermove', (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      drag.moved = true;
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.panBy(-dx, -dy);
    });
    this.overlay.addEventListener('pointerup', (event) => {
      const finished = drag;
      drag = null;
      if (!finished || finished.moved) return;
      const marker = finished.target?.closest?.('.marker');
      if (marker) {
        this.select(marker.dataset.offer);
        this.options.onSelect?.(marker.dataset.offer);
        return;
      }
      if (this.options.onPick) {
        const rect = this.overlay.getBoundingClientRect();
        const point = this.screenToLatLon(event.clientX - rect.left, event.clientY - rect.top);
        this.options.onPick(point);
      }
    });
    this.overlay.addEventListener('pointercancel', () => { drag = null; });
    this.overlay.addEventListener('wheel', (event) => {
      event.preventDefault();
      const rect = this.overlay.getBoundingClientRect();
      this.zoomBy(event.deltaY < 0 ? 0.5 : -0.5, { x: event.clientX - rect.left, y: event.clientY - rect.top });
    }, { passive: false });
    this.overlay.addEventListener('keydown', (event) => {
      const step = 80;
      const actions = {
        ArrowLeft: () => this.panBy(-step, 0),
        ArrowRight: () => this.panBy(step, 0),
        ArrowUp: () => this.panBy(0, -step),
        ArrowDown: () => this.panBy(0, step),
        '+': () => this.zoomBy(1),
        '=': () => this.zoomBy(1),
        '-': () => this.zoomBy(-1),
        '0': () => this.fitContent(),
      };
      const action = actions[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
    });
  }

  render() {
    if (!this.root.isConnected) return;
    this.renderBackground();
    this.renderOverlay();
  }

  renderBackground() {
    const ratio = window.devicePixelRatio || 1;
    const w = this.width;
    const hgt = this.height;
    if (this.canvas.width !== Math.round(w * ratio) || this.canvas.height !== Math.round(hgt * ratio)) {
      this.canvas.width = Math.round(w * ratio);
      this.canvas.height = Math.round(hgt * ratio);
    }
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    if (this.tileUrl) {
      this.renderTiles(ctx, w, hgt);
    } else if (this.dots) {
      this.renderDots(ctx, w, hgt);
    }
  }

  renderDots(ctx, w, hgt) {
    const size = this.worldSize;
    // One dot per 0.05° cell: its side follows the zoom, capped so it stays a cloud.
    const cell = (0.05 / 360) * size;
    const side = Math.max(1, Math.min(cell * 0.6, 3));
    ctx.fillStyle = getComputedStyle(this.root).getPropertyValue('--map-dot').trim() || 'rgba(60, 90, 130, 0.35)';
    const ox = this.width / 2 - this.center.x * size;
    const oy = this.height / 2 - this.center.y * size;
    const dots = this.dots;
    for (let i = 0; i < dots.length; i += 3) {
      const x = dots[i] * size + ox;
      const y = dots[i + 1] * size + oy;
      if (x < -4 || y < -4 || x > w + 4 || y > hgt + 4) continue;
      ctx.fillRect(x - side / 2, y - side / 2, side, side);
    }
  }

  renderTiles(ctx, w, hgt) {
    const z = Math.max(0, Math.min(MAX_ZOOM, Math.round(this.zoom)));
    const n = 2 ** z;
    const scale = 2 ** (this.zoom - z);
    const tileSize = TILE * scale;
    const size = this.worldSize;
    const ox = this.width / 2 - this.center.x * size;
    const oy = this.height / 2 - this.center.y * size;
    const x0 = Math.floor(-ox / tileSize);
    const x1 = Math.floor((w - ox) / tileSize);
    const y0 = Math.max(0, Math.floor(-oy / tileSize));
    const y1 = Math.min(n - 1, Math.floor((hgt - oy) / tileSize));
    for (let ty = y0; ty <= y1; ty++) {
      for (let tx = x0; tx <= x1; tx++) {
        const wrapped = ((tx % n) + n) % n;
        const image = this.tile(z, wrapped, ty);
        if (image.complete && image.naturalWidth > 0) {
          ctx.drawImage(image, tx * tileSize + ox, ty * tileSize + oy, tileSize + 0.5, tileSize + 0.5);
        }
      }
    }
  }

  tile(z, x, y) {
    const key = `${z}/${x}/${y}`;
    let image = this.tiles.get(key);
    if (!image) {
      const subdomain = 'abc'[(x + y) % 3];
      const url = this.tileUrl.replace('{z}', z).replace('{x}', x).replace('{y}', y).replace('{s}', subdomain);
      image = new Image();
      image.decoding = 'async';
      image.onload = () => this.renderBackground();
      image.src = url;
      this.tiles.set(key, image);
      if (this.tiles.size > 600) {
        this.tiles.delete(this.tiles.keys().next().value);
      }
    }
    return image;
  }

  renderOverlay() {
    this.overlay.setAttribute('viewBox', `0 0 ${this.width} ${this.height}`);
    clear(this.circleLayer);
    if (this.circle) {
      const points = [];
      for (let i = 0; i <= 72; i++) {
        const p = destination(this.circle.lat, this.circle.lon, this.circle.radiusKm, (i / 72) * 2 * Math.PI);
        const s = this.toScreen(p.lat, p.lon);
        points.push(`${s.x.toFixed(1)},${s.y.toFixed(1)}`);
      }
      const c = this.toScreen(this.circle.lat, this.circle.lon);
      this.circleLayer.append(
        svg('polygon', { class: 'map-radius', points: points.join(' ') }),
        svg('path', { class: 'map-centre', d: `M${c.x - 7},${c.y}h14M${c.x},${c.y - 7}v14` }),
      );
    }
    clear(this.markerLayer);
    // Farthest first, so the nearest results are drawn on top.
    const ordered = [...this.markers].sort((a, b) => b.rank - a.rank);
    for (const m of ordered) {
      const s = this.toScreen(m.lat, m.lon);
      const marker = svg('g', {
        class: ['marker', m.offerId === this.selected && 'selected'],
        transform: `translate(${s.x.toFixed(1)},${s.y.toFixed(1)})`,
        dataset: { offer: m.offerId, location: m.locationId, rank: m.rank, lat: m.lat, lon: m.lon },
      },
      svg('title', {}, `${m.rank}. ${m.title}`),
      svg('circle', { r: m.rank < 100 ? 10 : 13 }),
      svg('text', { 'text-anchor': 'middle', dy: '0.35em' }, String(m.rank)));
      this.markerLayer.append(marker);
    }
  }
}

function hostOf(url) {
  try { return new URL(url.replace('{s}', 'a')).host; } catch { return url; }
}
