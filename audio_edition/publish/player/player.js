/*! audio-edition read-along player — vanilla JavaScript, no dependencies. GPL-3.0-or-later.
 *
 * Enhances every `.audio-edition` element holding an `<audio>`:
 *   <div class="audio-edition" data-chapters="…/chapters.json" data-title="…">
 *     <audio controls preload="metadata" src="…/episode.mp3">
 *       <track kind="captions" src="…/transcript.vtt" srclang="fr" label="Transcription (français)">
 *     </audio>
 *     <p class="ae-noscript-links"><a href="…/#transcription">Lire la transcription</a></p>
 *   </div>
 * Without JavaScript the native <audio controls> and the links stay. With it: a region headed « Écouter l’article »
 * with French-labelled buttons, a seek slider, speed, volume, chapters, transcript and download, a keyboard
 * shortcuts dialog, and a read-along transcript whose current sentence is highlighted (CSS Custom Highlight API, or
 * a class) and carries aria-current. The text is never rewritten during playback.
 *
 * Sentences come from `data-transcript` (id of an element holding `[data-start][data-end]` elements: the episode
 * page), or else from the WebVTT cues of the <track> (built once, before any playback). Links of the page that
 * point into that transcript (`#chapitre-2`) seek there and play, like the player's own chapter list.
 */
(function () {
  'use strict';

  var SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
  var SKIP_SECONDS = 15;
  var ARROW_STEP = 5;      // seek slider: arrows move 5 s
  var PAGE_STEP = 30;      // PageUp / PageDown move 30 s
  var DEFAULT_VOLUME = 0.7;
  var SKIP_SETTLE_MS = 600;  // repeated ±15 s presses are announced once, as their sum
  var HIGHLIGHT_NAME = 'audio-edition-current';
  var STORAGE_KEY = 'audio-edition-player';
  var MAX_RESULTS = 30;
  var SCROLL_KEYS = ['PageUp', 'PageDown', 'Home', 'End', 'ArrowUp', 'ArrowDown', ' '];
  var uid = 0;

  // The keyboard shortcuts, as the dialog lists them and aria-keyshortcuts declares them.
  var SHORTCUTS = [
    ['K', 'Lecture ou pause'],
    ['J', 'Reculer de 15 secondes'],
    ['L', 'Avancer de 15 secondes'],
    ['<', 'Plus lent'],
    ['>', 'Plus vite'],
    ['M', 'Muet (couper ou rétablir le son)'],
    ['?', 'Ouvrir cette liste des raccourcis']
  ];
  var SLIDER_KEYS = [
    ['← ↓ / → ↑', 'Curseur de position : reculer / avancer de 5 secondes'],
    ['Page préc. / Page suiv.', 'Curseur de position : reculer / avancer de 30 secondes'],
    ['Début / Fin', 'Curseur de position : début / fin de l’épisode'],
    ['↑ ↓ dans le texte', 'Phrase précédente / suivante ; Entrée : écouter à partir de cette phrase'],
    ['Échap', 'Fermer la liste des chapitres ou cette fenêtre']
  ];

  var ICONS = {
    play: '<path d="M8 5v14l11-7z"/>',
    pause: '<path d="M6 5h4v14H6zM14 5h4v14h-4z"/>',
    back: '<path d="M12 4A8.5 8.5 0 1 1 3.5 12.5" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<path d="M12 .8 7.6 4l4.4 3.2z"/>',
    forward: '<path d="M12 4a8.5 8.5 0 1 0 8.5 8.5" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<path d="m12 .8 4.4 3.2L12 7.2z"/>',
    chapters: '<path d="M4 6h2v2H4zm4 0h12v2H8zm-4 5h2v2H4zm4 0h12v2H8zm-4 5h2v2H4zm4 0h12v2H8z"/>',
    transcript: '<path d="M5 3h10l4 4v14H5zm2 6v2h10V9zm0 4v2h10v-2zm0 4v2h7v-2z"/>',
    download: '<path d="M11 3h2v9l3.5-3.5 1.4 1.4L12 15.8 6.1 9.9l1.4-1.4L11 12zM5 18h14v2H5z"/>',
    slower: '<path d="M5 11h14v2H5z"/>',
    faster: '<path d="M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z"/>',
    keyboard: '<path d="M2 6h20v12H2zm2 2v8h16V8zm1 1h2v2H5zm3 0h2v2H8zm3 0h2v2h-2zm3 0h2v2h-2zm3 0h2v2h-2zM7 13h10v2H7z"/>',
    // A toggle's state drawn as a shape (empty box / ticked box), so it shows without colour and in forced colours.
    off: '<path d="M4 4h16v16H4zm2 2v12h12V6z"/>',
    on: '<path d="M4 4h16v16H4zm2 2v12h12V6z"/><path d="m7.2 12.3 1.6-1.6 2.3 2.3 5-5 1.6 1.6-6.6 6.6z"/>',
    // A disclosure's state: a chevron pointing down (closed) or up (open).
    closed: '<path d="m6.4 8.6 5.6 5.6 5.6-5.6 1.4 1.4-7 7-7-7z"/>',
    open: '<path d="m6.4 15.4 5.6-5.6 5.6 5.6 1.4-1.4-7-7-7 7z"/>'
  };

  // --- formatting (French) ------------------------------------------------------------------------------
  // Whole seconds, truncated after rounding to the millisecond: the rule of the page, the feed and
  // `episodes list` (publish/durations.py), so that every display of one episode says the same duration.
  function wholeSeconds(seconds) {
    return Math.max(0, Math.floor(Math.round((seconds || 0) * 1000) / 1000));
  }

  function clock(seconds) {
    var total = wholeSeconds(seconds);
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var mm = h ? String(m).padStart(2, '0') : String(m);
    return (h ? h + ':' : '') + mm + ':' + String(s).padStart(2, '0');
  }

  function plural(n, word) { return n + ' ' + word + (n > 1 ? 's' : ''); }

  function spokenTime(seconds) {
    var total = wholeSeconds(seconds);
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var parts = [];
    if (h) parts.push(plural(h, 'heure'));
    if (h || m) parts.push(plural(m, 'minute'));
    parts.push(plural(s, 'seconde'));
    return parts.join(' ');
  }

  function speedLabel(rate) { return String(rate).replace('.', ',') + '×'; }

  function loadPrefs() {
    try { return JSON.parse(window.localStorage.getItem(STORAGE_KEY)) || {}; } catch (e) { return {}; }
  }

  function savePrefs(prefs) {
    try { window.localStorage.setItem(STORAGE_KEY, JSON.stringify(prefs)); } catch (e) { /* private mode */ }
  }

  function reducedMotion() {
    return !!(window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches);
  }

  function make(tag, attrs, html) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (html !== undefined) node.innerHTML = html;
    return node;
  }

  function icon(name, cls) {
    return '<svg class="' + (cls || 'ae-icon') + '" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">' +
      ICONS[name] + '</svg>';
  }

  function setIcon(node, name, cls) {
    node.querySelector(cls ? '.' + cls : 'svg').innerHTML = ICONS[name];
  }

  // A button whose accessible name contains its visible label (WCAG 2.5.3).
  function button(cls, iconName, label, extra) {
    var node = make('button', Object.assign({ type: 'button', 'class': 'ae-btn ' + cls }, extra || {}));
    node.innerHTML = (iconName ? icon(iconName) : '') + '<span class="ae-label"></span>';
    node.querySelector('.ae-label').textContent = label;
    return node;
  }

  // An on/off button (aria-pressed) that draws its state as a box, ticked or empty, before its label.
  function toggleButton(cls, label, pressed, extra) {
    var node = button('ae-toggle ' + cls, null, label, extra);
    node.insertAdjacentHTML('afterbegin', icon(pressed ? 'on' : 'off', 'ae-state'));
    node.setAttribute('aria-pressed', String(pressed));
    return node;
  }

  function setPressed(node, pressed) {
    node.setAttribute('aria-pressed', String(pressed));
    setIcon(node, pressed ? 'on' : 'off', 'ae-state');
  }

  // A disclosure button (aria-expanded) whose chevron points down when closed and up when open.
  function disclosure(cls, iconName, label, extra) {
    var node = button(cls, iconName, label, Object.assign({ 'aria-expanded': 'false' }, extra || {}));
    node.insertAdjacentHTML('beforeend', icon('closed', 'ae-state ae-chevron'));
    return node;
  }

  function setExpanded(node, open) {
    node.setAttribute('aria-expanded', String(open));
    setIcon(node, open ? 'open' : 'closed', 'ae-chevron');
  }

  // Round arrow with "15" inside: the visible label is the number, the name the full French phrase around it.
  function iconButton(cls, iconName, name) {
    var node = make('button', { type: 'button', 'class': 'ae-btn ae-icon-btn ' + cls });
    node.innerHTML = icon(iconName) + '<span class="ae-icon-num" aria-hidden="true">15</span><span class="ae-vh"></span>';
    node.querySelector('.ae-vh').textContent = name;
    return node;
  }

  // Text as a French reader searches it: no accents, no case, ligatures spelled out, one kind of apostrophe.
  function fold(text) {
    return String(text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
      .replace(/œ/g, 'oe').replace(/æ/g, 'ae').replace(/[’ʼ`]/g, "'").replace(/\s+/g, ' ');
  }

  function inViewport(el) {
    var box = el.getBoundingClientRect();
    var view = window.innerHeight || document.documentElement.clientHeight;
    return box.bottom > 0 && box.top < view && (box.width > 0 || box.height > 0);
  }

  // --- highlight: CSS Custom Highlight API where available, a class otherwise -----------------------------
  var sharedHighlight = null;
  function highlightRegistry() {
    if (!(window.CSS && CSS.highlights && window.Highlight)) return null;
    if (!sharedHighlight) {
      sharedHighlight = CSS.highlights.get(HIGHLIGHT_NAME) || new Highlight();
      CSS.highlights.set(HIGHLIGHT_NAME, sharedHighlight);
    }
    return sharedHighlight;
  }

  // --- the player ---------------------------------------------------------------------------------------
  function Player(root) {
    this.root = root;
    this.audio = root.querySelector('audio');
    this.id = 'ae' + (++uid);
    this.prefs = loadPrefs();
    this.sentences = [];       // [{el, start, end}] sorted by start
    this.chapters = [];        // [{start, end, title, button}]
    this.current = null;       // the sentence being read
    this.focusIndex = 0;       // roving tabindex position in the transcript
    this.range = null;         // our range in the shared Highlight
    this.autoScroll = this.prefs.autoScroll !== false;
    this.highlightOn = this.prefs.highlight !== false;
    this.followPaused = false; // the reader scrolled: the page stays where they put it
    this.userSeeking = false;
    this.started = false;     // no highlight before the first play or seek
    this.skipTotal = 0;       // ±15 s presses not yet announced
    this.build();
    this.bindAudio();
    this.bindPage();
    this.loadTranscript();
    this.loadChapters();
  }

  Player.prototype.build = function () {
    var self = this, root = this.root, audio = this.audio;
    var title = root.getAttribute('data-title') || document.title;
    var level = Math.max(2, Math.min(6, parseInt(root.getAttribute('data-heading-level'), 10) || 2));

    audio.controls = false;   // our controls replace the native ones; never autoplay
    audio.autoplay = false;
    audio.removeAttribute('autoplay');
    if (audio.preload === 'auto') audio.preload = 'metadata';
    root.classList.add('ae-enhanced');

    // A region named by a visible heading: found by landmarks and by headings.
    var ui = make('section', { 'class': 'ae-player', 'aria-labelledby': this.id + '-heading' });
    this.ui = ui;
    var head = make('div', { 'class': 'ae-head' });
    var heading = make('h' + level, { 'class': 'ae-heading', id: this.id + '-heading' });
    heading.textContent = 'Écouter l’article';
    this.keysBtn = button('ae-keys', 'keyboard', 'Raccourcis clavier',
      { 'aria-haspopup': 'dialog', 'aria-keyshortcuts': '?' });
    head.appendChild(heading);
    head.appendChild(this.keysBtn);

    // Row 1: back 15 s, play/pause, forward 15 s, then the seek slider.
    var top = make('div', { 'class': 'ae-row ae-row-main' });
    var transport = make('div', { 'class': 'ae-transport' });
    this.backBtn = iconButton('ae-back', 'back', 'Reculer de 15 secondes');
    this.backBtn.setAttribute('aria-keyshortcuts', 'J');
    // Both words sit in one grid cell, the other one hidden: the button keeps its width whatever it says.
    this.playBtn = make('button', { type: 'button', 'class': 'ae-btn ae-play', 'aria-keyshortcuts': 'K' },
      icon('play') + '<span class="ae-label ae-swap"><span class="ae-when-paused">Lecture</span>' +
      '<span class="ae-when-playing">Pause</span></span>');
    this.fwdBtn = iconButton('ae-forward', 'forward', 'Avancer de 15 secondes');
    this.fwdBtn.setAttribute('aria-keyshortcuts', 'L');
    [this.backBtn, this.playBtn, this.fwdBtn].forEach(function (n) { transport.appendChild(n); });
    var seek = make('div', { 'class': 'ae-seek' });
    this.slider = make('input', {
      type: 'range', 'class': 'ae-range ae-seek-range', min: '0', max: '0', step: 'any', value: '0',
      'aria-label': 'Position de lecture', 'aria-valuetext': spokenTime(0)
    });
    this.timeText = make('div', { 'class': 'ae-times', 'aria-hidden': 'true' },
      '<span class="ae-time-current">0:00</span><span class="ae-time-total">0:00</span>');
    seek.appendChild(this.slider);
    seek.appendChild(this.timeText);
    top.appendChild(transport);
    top.appendChild(seek);

    // Row 2: speed (two buttons around the value), sound, then things to open or take away.
    var row = make('div', { 'class': 'ae-row ae-row-controls' });
    var speed = make('div', { 'class': 'ae-group ae-group-speed', role: 'group', 'aria-label': 'Vitesse de lecture' });
    this.slowerBtn = button('ae-slower', 'slower', 'Plus lent', { 'aria-keyshortcuts': '<' });
    this.fasterBtn = button('ae-faster', 'faster', 'Plus vite', { 'aria-keyshortcuts': '>' });
    this.speedValue = make('span', { 'class': 'ae-speed-value ae-swap' },
      '<span class="ae-sizer" aria-hidden="true">0,75×</span><span class="ae-speed-now">1×</span>');
    [this.slowerBtn, this.speedValue, this.fasterBtn].forEach(function (n) { speed.appendChild(n); });
    this.muteBtn = toggleButton('ae-mute', 'Muet', false, { 'aria-keyshortcuts': 'M' });
    this.volume = make('input', {
      type: 'range', 'class': 'ae-range ae-volume', min: '0', max: '1', step: '0.05', value: String(DEFAULT_VOLUME),
      'aria-label': 'Volume', 'aria-valuetext': Math.round(DEFAULT_VOLUME * 100) + ' %'
    });
    var sound = make('div', { 'class': 'ae-group ae-group-sound' });
    sound.appendChild(this.muteBtn);
    sound.appendChild(this.volume);
    this.chapterBtn = disclosure('ae-chapters-toggle', 'chapters', 'Chapitres',
      { 'aria-controls': this.id + '-chapters', hidden: '' });
    this.transcriptBtn = disclosure('ae-transcript-toggle', 'transcript', 'Transcription', { hidden: '' });
    var source = audio.querySelector('source');
    var file = audio.src || (source && source.src) || audio.currentSrc || '';  // absolute, known before loading
    this.download = make('a', { 'class': 'ae-btn ae-download', href: file, download: '' });
    this.download.innerHTML = icon('download') + '<span class="ae-label">Télécharger</span>' +
      '<span class="ae-vh"> l’épisode (MP3)</span>';
    // The chapter toggle comes last so that its list follows it directly in the Tab order.
    var more = make('div', { 'class': 'ae-group ae-group-more' });
    [this.download, this.transcriptBtn, this.chapterBtn].forEach(function (n) { more.appendChild(n); });
    [speed, sound, more].forEach(function (n) { row.appendChild(n); });

    this.chapterPanel = make('div', { 'class': 'ae-panel ae-chapter-panel', id: this.id + '-chapters', hidden: '' });

    // Read-along switches next to the controls, and the sentence being read for those who magnify the player.
    this.tools = make('div', { 'class': 'ae-readalong', role: 'group', 'aria-label': 'Lecture suivie', hidden: '' });
    this.scrollBtn = toggleButton('ae-autoscroll', 'Défilement automatique', this.autoScroll);
    this.highlightBtn = toggleButton('ae-highlight', 'Surligner la phrase lue', this.highlightOn);
    var switches = make('div', { 'class': 'ae-group' });
    switches.appendChild(this.scrollBtn);
    switches.appendChild(this.highlightBtn);
    this.nowLine = make('p', { 'class': 'ae-now', hidden: '' },
      '<span class="ae-now-label">Phrase en cours\u00a0:</span> <span class="ae-now-text"></span>');
    this.tools.appendChild(switches);
    this.tools.appendChild(this.nowLine);
    this.sentenceHint = make('span', { id: this.id + '-sentence-hint', hidden: '' },
      'Entrée\u00a0: écouter à partir de cette phrase.');

    // When the MP3 cannot be played: say so and show the way to the file and to the text.
    this.fallback = make('p', { 'class': 'ae-fallback', hidden: '' });
    this.status = make('div', { 'class': 'ae-vh ae-status', role: 'status' });
    this.dialog = this.buildShortcutDialog();

    [head, top, row, this.chapterPanel, this.tools, this.sentenceHint, this.fallback, this.status]
      .forEach(function (n) { ui.appendChild(n); });
    if (this.dialog) ui.appendChild(this.dialog); else this.keysBtn.hidden = true;
    root.insertBefore(ui, audio.nextSibling);

    // Listeners.
    this.playBtn.addEventListener('click', function () { self.toggle(); });
    this.backBtn.addEventListener('click', function () { self.skip(-SKIP_SECONDS); });
    this.fwdBtn.addEventListener('click', function () { self.skip(SKIP_SECONDS); });
    this.slowerBtn.addEventListener('click', function () { self.stepSpeed(-1); });
    this.fasterBtn.addEventListener('click', function () { self.stepSpeed(1); });
    this.muteBtn.addEventListener('click', function () { self.setMuted(!audio.muted); });
    this.volume.addEventListener('input', function () { self.setVolume(parseFloat(self.volume.value)); });
    this.chapterBtn.addEventListener('click', function () { self.togglePanel(self.chapterBtn, self.chapterPanel); });
    this.chapterBtn.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && self.chapterBtn.getAttribute('aria-expanded') === 'true') {
        event.preventDefault();
        self.togglePanel(self.chapterBtn, self.chapterPanel, false);
      }
    });
    this.transcriptBtn.addEventListener('click', function () { self.toggleTranscript(); });
    this.keysBtn.addEventListener('click', function () { self.openShortcuts(); });
    this.scrollBtn.addEventListener('click', function () {
      self.autoScroll = !self.autoScroll;
      self.followPaused = false;
      setPressed(self.scrollBtn, self.autoScroll);
      self.prefs.autoScroll = self.autoScroll; savePrefs(self.prefs);
    });
    this.highlightBtn.addEventListener('click', function () {
      self.highlightOn = !self.highlightOn;
      setPressed(self.highlightBtn, self.highlightOn);
      self.prefs.highlight = self.highlightOn; savePrefs(self.prefs);
      self.paint();
    });
    this.slider.addEventListener('input', function () {
      self.seekTo(parseFloat(self.slider.value));
    });
    this.slider.addEventListener('pointerdown', function () { self.userSeeking = true; });
    ['pointerup', 'pointercancel', 'change', 'blur'].forEach(function (type) {
      self.slider.addEventListener(type, function () { self.userSeeking = false; self.onTime(undefined, true); });
    });
    this.slider.addEventListener('keydown', function (event) { self.onSliderKey(event); });
    ui.addEventListener('keydown', function (event) { self.onShortcut(event); });
    this.chapterPanel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') { self.togglePanel(self.chapterBtn, self.chapterPanel, false); self.chapterBtn.focus(); }
    });

    // Preferences remembered across episodes; a first visit starts at 70 % volume, not full blast.
    if (SPEEDS.indexOf(this.prefs.speed) >= 0) this.setSpeed(this.prefs.speed, false);
    else this.showSpeed();
    this.setVolume(typeof this.prefs.volume === 'number' ? this.prefs.volume : DEFAULT_VOLUME, false);
    var duration = parseFloat(root.getAttribute('data-duration'));
    if (duration > 0) this.setDuration(duration);
  };

  Player.prototype.buildShortcutDialog = function () {
    var self = this;
    var dialog = make('dialog', { 'class': 'ae-dialog', 'aria-labelledby': this.id + '-keys-title' });
    if (typeof dialog.showModal !== 'function') return null;
    var rows = SHORTCUTS.concat(SLIDER_KEYS).map(function () {
      return '<tr><td><kbd></kbd></td><td></td></tr>';
    }).join('');
    dialog.innerHTML = '<h2 class="ae-dialog-title" id="' + this.id + '-keys-title">Raccourcis clavier</h2>' +
      '<p>Les lettres et les signes agissent quand le focus est dans le lecteur, jamais ailleurs dans la page.</p>' +
      '<table class="ae-keys-table"><thead><tr><th scope="col">Touche</th><th scope="col">Action</th></tr></thead>' +
      '<tbody>' + rows + '</tbody></table>' +
      '<button type="button" class="ae-btn ae-dialog-close">Fermer</button>';
    var cells = dialog.querySelectorAll('tbody tr');
    SHORTCUTS.concat(SLIDER_KEYS).forEach(function (entry, i) {
      cells[i].querySelector('kbd').textContent = entry[0];
      cells[i].querySelectorAll('td')[1].textContent = entry[1];
    });
    dialog.querySelector('.ae-dialog-close').addEventListener('click', function () { dialog.close(); });
    // Escape closes a modal <dialog> natively; focus goes back to what opened it.
    dialog.addEventListener('close', function () {
      if (self.dialogOpener && document.contains(self.dialogOpener)) self.dialogOpener.focus();
      self.dialogOpener = null;
    });
    return dialog;
  };

  Player.prototype.openShortcuts = function () {
    if (!this.dialog || this.dialog.open) return;
    this.dialogOpener = document.activeElement && document.activeElement !== document.body ? document.activeElement : this.keysBtn;
    this.dialog.showModal();
    this.dialog.querySelector('.ae-dialog-close').focus();
  };

  Player.prototype.bindAudio = function () {
    var self = this, audio = this.audio;
    var tick = function () { self.onTime(); };
    audio.addEventListener('loadedmetadata', function () { self.setDuration(audio.duration); tick(); });
    audio.addEventListener('durationchange', function () { self.setDuration(audio.duration); });
    audio.addEventListener('timeupdate', tick);
    audio.addEventListener('seeked', tick);
    audio.addEventListener('play', function () {
      self.start(); self.onPlayState(true); self.claimMediaSession(); self.frame();
    });
    audio.addEventListener('pause', function () { if (!audio.ended) self.onPlayState(false); });
    audio.addEventListener('ended', function () { self.onPlayState(false, 'Fin de l’épisode'); });
    audio.addEventListener('ratechange', function () { self.showSpeed(); });
    audio.addEventListener('volumechange', function () { self.showVolume(); });
    audio.addEventListener('error', function () { self.onMediaError(); });
    var source = audio.querySelector('source:last-of-type');
    if (source) source.addEventListener('error', function () { self.onError(); });
    // The audio element starts loading before this (deferred) script runs: a missing file may already have
    // failed, its error event gone unheard.
    if (audio.error || audio.networkState === 3 /* NETWORK_NO_SOURCE */) this.onMediaError();
    else if (audio.readyState >= 1) { this.setDuration(audio.duration); tick(); }
  };

  // The page around the player: links into our transcript seek, and a reader's own scrolling stops the follow.
  Player.prototype.bindPage = function () {
    var self = this;
    document.addEventListener('click', function (event) {
      if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      var link = event.target.closest && event.target.closest('a[href^="#"]');
      if (link && self.seekToAnchor(link.getAttribute('href').slice(1), true)) self.followPaused = false;
    });
    var stop = function () { self.pauseFollow(); };
    window.addEventListener('wheel', stop, { passive: true });
    window.addEventListener('touchmove', stop, { passive: true });
    window.addEventListener('keydown', function (event) {
      var t = event.target;
      var typing = t && t.closest && t.closest('input, textarea, select, [contenteditable], .ae-player, .ae-transcript');
      if (!typing && SCROLL_KEYS.indexOf(event.key) >= 0) stop();
    });
    // Dragging the page's scroll bar: a press on the root element itself.
    window.addEventListener('pointerdown', function (event) { if (event.target === document.documentElement) stop(); });
  };

  // Wheel, touch, scrolling keys and the scroll bar are the reader's own (our scrollIntoView fires none of them),
  // even in the instant after an automatic scroll.
  Player.prototype.pauseFollow = function () {
    if (!this.audio.paused) this.followPaused = true;
  };

  // An MP3 that is missing or unreadable fails at once; an error during playback (an audio output that went
  // away, a damaged frame) fails only if the playback stops with it.
  Player.prototype.onMediaError = function () {
    var self = this, audio = this.audio, code = audio.error ? audio.error.code : 0;
    if (code === 2 || code === 4 || audio.readyState < 1) { this.onError(); return; }
    var at = audio.currentTime;
    window.setTimeout(function () { if (audio.paused || audio.currentTime === at) self.onError(); }, 1500);
  };

  Player.prototype.onError = function () {
    if (this.failed) return;
    this.failed = true;
    var fallback = this.fallback;
    fallback.textContent = 'Le fichier audio n’a pas pu être lu. ';
    var file = make('a', { href: this.download.getAttribute('href'), download: '' }, 'Télécharger l’épisode (MP3)');
    fallback.appendChild(file);
    var text = this.transcript && this.transcript.id && document.getElementById(this.transcript.id) && !this.ui.contains(this.transcript)
      ? '#' + this.transcript.id : null;
    var noscript = this.root.querySelector('.ae-noscript-links a[href*="#"]');
    if (noscript) text = noscript.getAttribute('href');
    if (text) {
      fallback.appendChild(document.createTextNode(' · '));
      fallback.appendChild(make('a', { href: text }, 'Lire la transcription'));
    }
    fallback.hidden = false;
    this.root.classList.add('ae-error');
    this.announce('Le fichier audio n’a pas pu être lu. Vous pouvez le télécharger ou lire la transcription.');
  };

  // Follow the reading between timeupdate events (4 Hz is too coarse for a sentence highlight).
  Player.prototype.frame = function () {
    var self = this;
    if (this.audio.paused || this.framing) return;
    this.framing = true;
    window.requestAnimationFrame(function () { self.framing = false; self.onTime(); self.frame(); });
  };

  // --- playback -----------------------------------------------------------------------------------------
  Player.prototype.toggle = function () {
    if (this.audio.paused || this.audio.ended) this.play(); else this.audio.pause();
  };

  // `quiet`: the caller announces something more telling than « Lecture en cours » (a chapter).
  Player.prototype.play = function (quiet) {
    var self = this;
    this.followPaused = false;
    if (quiet) this.announcedPlaying = true;
    var promise = this.audio.play();
    if (promise && promise.catch) {
      promise.catch(function (err) {
        if (err && err.name === 'NotSupportedError') self.onError();
        else if (err && err.name !== 'AbortError') self.announce('La lecture n’a pas pu démarrer.');
      });
    }
  };

  Player.prototype.duration = function () {
    var d = this.audio.duration;
    return isFinite(d) && d > 0 ? d : (this.knownDuration || 0);
  };

  Player.prototype.seekTo = function (seconds) {
    var d = this.duration();
    var t = Math.max(0, d ? Math.min(seconds, d) : seconds);
    this.audio.currentTime = t;
    this.start();
    this.onTime(t, true);
    return t;
  };

  Player.prototype.start = function () {
    if (this.started) return;
    this.started = true;
    this.paint();
    this.showNow();
  };

  // ±15 s: a run of presses is announced once, when it settles, with where it landed.
  Player.prototype.skip = function (delta) {
    var self = this, before = this.chapterAt(this.audio.currentTime);
    var t = this.seekTo(this.audio.currentTime + delta);
    this.skipTotal += delta;
    window.clearTimeout(this.skipTimer);
    this.skipTimer = window.setTimeout(function () {
      var total = self.skipTotal;
      self.skipTotal = 0;
      var message = (total < 0 ? 'Recul de ' : 'Avance de ') + plural(Math.abs(total), 'seconde') + ', position\u00a0: ' + spokenTime(t) + '.';
      var now = self.chapterAt(t);
      if (now !== before && now >= 0) message += ' ' + self.chapterLabel(now);
      self.announce(message);
    }, SKIP_SETTLE_MS);
  };

  Player.prototype.setSpeed = function (rate, announce) {
    this.audio.playbackRate = rate;
    this.audio.defaultPlaybackRate = rate;
    this.prefs.speed = rate;
    savePrefs(this.prefs);
    this.showSpeed();
    if (announce) {
      var edge = rate === SPEEDS[0] ? ' (la plus lente)' : rate === SPEEDS[SPEEDS.length - 1] ? ' (la plus rapide)' : '';
      this.announce('Vitesse de lecture\u00a0: ' + speedLabel(rate) + edge);
    }
  };

  // One step slower or faster; at either end the speed stays (no wrapping round) and says so.
  Player.prototype.stepSpeed = function (direction) {
    var i = SPEEDS.indexOf(this.audio.playbackRate);
    if (i < 0) i = SPEEDS.indexOf(1);
    var next = Math.max(0, Math.min(SPEEDS.length - 1, i + direction));
    this.setSpeed(SPEEDS[next], true);
  };

  Player.prototype.showSpeed = function () {
    var rate = this.audio.playbackRate;
    this.speedValue.querySelector('.ae-speed-now').textContent = speedLabel(rate);
    // aria-disabled rather than disabled: the focus stays on the button a keyboard user is pressing.
    this.slowerBtn.setAttribute('aria-disabled', String(rate <= SPEEDS[0]));
    this.fasterBtn.setAttribute('aria-disabled', String(rate >= SPEEDS[SPEEDS.length - 1]));
  };

  Player.prototype.setMuted = function (muted) {
    this.audio.muted = muted;
    this.showVolume();
    this.announce(muted ? 'Son coupé' : 'Son rétabli');
  };

  Player.prototype.setVolume = function (value, remember) {
    var v = Math.max(0, Math.min(1, value));
    this.audio.volume = v;
    if (v > 0 && this.audio.muted) this.audio.muted = false;
    if (remember !== false) { this.prefs.volume = v; savePrefs(this.prefs); }
    this.showVolume();
  };

  Player.prototype.showVolume = function () {
    setPressed(this.muteBtn, this.audio.muted);
    this.volume.value = String(this.audio.volume);
    this.volume.setAttribute('aria-valuetext', Math.round(this.audio.volume * 100) + ' %' + (this.audio.muted ? ', son coupé' : ''));
    this.volume.style.setProperty('--ae-fill', (this.audio.volume * 100) + '%');
  };

  Player.prototype.onPlayState = function (playing, message) {
    setIcon(this.playBtn, playing ? 'pause' : 'play');
    this.root.classList.toggle('ae-playing', playing);
    if ('mediaSession' in navigator && this.ownsSession) {
      navigator.mediaSession.playbackState = playing ? 'playing' : 'paused';
    }
    if (playing !== this.announcedPlaying) {  // once per change, whatever started or stopped it
      this.announcedPlaying = playing;
      this.announce(message || (playing ? 'Lecture en cours' : 'En pause'));
    }
    if (!playing) this.onTime(undefined, true);
  };

  Player.prototype.setDuration = function (seconds) {
    if (!(isFinite(seconds) && seconds > 0)) return;
    this.knownDuration = seconds;
    this.slider.max = String(seconds);
    this.timeText.querySelector('.ae-time-total').textContent = clock(seconds);
    this.onTime(undefined, true);
  };

  // `user`: the position changed because someone asked (a key, a click), not because time went on.
  Player.prototype.onTime = function (at, user) {
    var t = typeof at === 'number' ? at : this.audio.currentTime;
    var d = this.duration();
    // While the seek slider has the focus during playback its value stays put, so that a screen reader is not
    // told a new position every second; the clock beside it goes on.
    var quiet = !user && !this.audio.paused && document.activeElement === this.slider;
    if (!this.userSeeking && !quiet) {
      this.slider.value = String(t);
      this.slider.style.setProperty('--ae-fill', (d ? (100 * t / d) : 0) + '%');
    }
    var second = Math.floor(t);
    if (second !== this.shownSecond || d !== this.shownDuration) {
      this.shownSecond = second;
      this.shownDuration = d;
      this.timeText.querySelector('.ae-time-current').textContent = clock(t);
    }
    var valueText = spokenTime(t) + ' sur ' + spokenTime(d);
    if (!quiet && this.slider.getAttribute('aria-valuetext') !== valueText) this.slider.setAttribute('aria-valuetext', valueText);
    this.follow(t);
    this.markChapter(t);
    if ('mediaSession' in navigator && this.ownsSession && navigator.mediaSession.setPositionState && d) {
      try {
        navigator.mediaSession.setPositionState({ duration: d, playbackRate: this.audio.playbackRate, position: Math.min(t, d) });
      } catch (e) { /* older browsers */ }
    }
  };

  // One polite status region; a message replaces the one before it (never a queue of stale news).
  Player.prototype.announce = function (message) {
    var status = this.status;
    window.clearTimeout(this.announceTimer);
    status.textContent = '';
    this.announceTimer = window.setTimeout(function () { status.textContent = message; }, 50);
  };

  // --- keyboard -----------------------------------------------------------------------------------------
  Player.prototype.onSliderKey = function (event) {
    var t = this.audio.currentTime, d = this.duration();
    var moves = {
      ArrowLeft: t - ARROW_STEP, ArrowDown: t - ARROW_STEP, ArrowRight: t + ARROW_STEP, ArrowUp: t + ARROW_STEP,
      PageDown: t - PAGE_STEP, PageUp: t + PAGE_STEP, Home: 0, End: d
    };
    if (!(event.key in moves) || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    this.seekTo(moves[event.key]);
  };

  // Shortcuts work only while focus is inside this player (never page-wide).
  Player.prototype.onShortcut = function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    var target = event.target;
    if ((this.transcript && this.transcript.contains(target)) || (this.dialog && this.dialog.contains(target))) return;
    if (target.matches && target.matches('input:not([type="range"]), textarea')) return;  // typing, not commanding
    var actions = {
      k: function (p) { p.toggle(); },
      j: function (p) { p.skip(-SKIP_SECONDS); },
      l: function (p) { p.skip(SKIP_SECONDS); },
      m: function (p) { p.setMuted(!p.audio.muted); },
      '<': function (p) { p.stepSpeed(-1); },
      '>': function (p) { p.stepSpeed(1); },
      '?': function (p) { p.openShortcuts(); }
    };
    var action = actions[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!action) return;
    event.preventDefault();
    action(this);
  };

  // --- chapters -----------------------------------------------------------------------------------------
  Player.prototype.loadChapters = function () {
    var self = this, url = this.root.getAttribute('data-chapters');
    if (!url || !window.fetch) return;
    fetch(url, { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) { self.setChapters((data && data.chapters) || []); })
      .catch(function () { /* no chapters: the button stays hidden */ });
  };

  Player.prototype.setChapters = function (list) {
    var self = this;
    var chapters = list.filter(function (c) { return c && c.toc !== false && isFinite(c.startTime); })
      .sort(function (a, b) { return a.startTime - b.startTime; });
    if (!chapters.length) return;
    var ol = make('ol', { 'class': 'ae-chapter-menu', 'aria-label': 'Chapitres' });
    this.chapters = chapters.map(function (c, i) {
      var start = Number(c.startTime);
      var end = isFinite(c.endTime) ? Number(c.endTime) : (chapters[i + 1] ? Number(chapters[i + 1].startTime) : Infinity);
      var li = make('li');
      var btn = make('button', { type: 'button', 'class': 'ae-chapter', 'data-start': String(start) });
      btn.innerHTML = '<span class="ae-chapter-time"></span> <span class="ae-chapter-title"></span>';
      btn.querySelector('.ae-chapter-time').textContent = clock(start);
      btn.querySelector('.ae-chapter-title').textContent = String(c.title || ('Chapitre ' + (i + 1)));
      btn.addEventListener('click', function () { self.playChapter(i); });
      li.appendChild(btn);
      ol.appendChild(li);
      return { start: start, end: end, title: String(c.title || ''), button: btn };
    });
    this.chapterPanel.appendChild(ol);
    this.chapterBtn.hidden = false;
    this.markChapter(this.audio.currentTime);
  };

  Player.prototype.chapterLabel = function (i) {
    var c = this.chapters[i];
    return 'Chapitre ' + (i + 1) + ' sur ' + this.chapters.length + (c.title ? '\u00a0: ' + c.title : '') + '.';
  };

  Player.prototype.playChapter = function (i) {
    this.seekTo(this.chapters[i].start);
    this.play(true);
    this.announce(this.chapterLabel(i));
  };

  Player.prototype.chapterAt = function (t) {
    var found = -1;
    for (var i = 0; i < this.chapters.length; i++) if (this.chapters[i].start <= t + 0.001) found = i;
    return found;
  };

  Player.prototype.markChapter = function (t) {
    if (!this.chapters.length) return;
    var index = this.chapterAt(t);
    if (index === this.currentChapter) return;
    this.currentChapter = index;
    this.chapters.forEach(function (c, i) {
      if (i === index) c.button.setAttribute('aria-current', 'true'); else c.button.removeAttribute('aria-current');
    });
  };

  Player.prototype.jumpChapter = function (direction) {
    var t = this.audio.currentTime, i = this.chapterAt(t);
    var to = direction < 0 && i >= 0 && t - this.chapters[i].start > 3 ? i : i + direction;
    if (!this.chapters[to]) return;
    this.seekTo(this.chapters[to].start);
    this.announce(this.chapterLabel(to));
  };

  Player.prototype.togglePanel = function (btn, panel, open) {
    var show = open === undefined ? btn.getAttribute('aria-expanded') !== 'true' : open;
    setExpanded(btn, show);
    panel.hidden = !show;
  };

  // A link of the page to an element of our transcript (a chapter heading, a paragraph): listen from there.
  Player.prototype.seekToAnchor = function (id, andPlay) {
    var target = id && this.transcript ? document.getElementById(decodeURIComponent(id)) : null;
    if (!target || !this.transcript.contains(target)) return false;
    var first = target.matches('[data-start]') ? target : target.querySelector('[data-start]');
    var i = first ? this.indexOf(first) : -1;
    if (i < 0) return false;
    var t = this.seekTo(this.sentences[i].start);
    this.moveFocus(i, false);
    if (!andPlay) return true;
    var chapter = this.chapterAt(t);
    var isChapter = chapter >= 0 && Math.abs(this.chapters[chapter].start - t) < 0.5;
    this.play(isChapter);
    if (isChapter) this.announce(this.chapterLabel(chapter));
    return true;
  };

  // --- transcript and read-along ------------------------------------------------------------------------
  Player.prototype.loadTranscript = function () {
    var self = this, id = this.root.getAttribute('data-transcript');
    var inPage = id ? document.getElementById(id) : null;
    if (inPage) {
      this.setTranscript(inPage, true);
      // Opened at #chapitre-2: the audio waits there (it does not start by itself).
      if (window.location.hash) this.seekToAnchor(window.location.hash.slice(1), false);
      return;
    }
    var trackEl = this.audio.querySelector('track[kind="captions"], track[kind="subtitles"], track[kind="metadata"]');
    if (!trackEl || !trackEl.track) return;
    var track = trackEl.track;
    var build = function () {
      if (self.transcript || !track.cues || !track.cues.length) return;
      self.setTranscript(self.transcriptFromCues(track.cues), false);
    };
    track.mode = 'hidden';   // load the cues without rendering them
    trackEl.addEventListener('load', build);
    if (trackEl.readyState === 2) build();
  };

  // One paragraph per run of cues; a gap of more than half a second (a paragraph pause) starts a new one.
  Player.prototype.transcriptFromCues = function (cues) {
    var box = make('div', { 'class': 'ae-transcript ae-panel', id: this.id + '-transcript', tabindex: '-1' });
    var p = null, span = null, lastEnd = -1;
    for (var i = 0; i < cues.length; i++) {
      var cue = cues[i];
      var text = cue.getCueAsHTML ? cue.getCueAsHTML().textContent : cue.text;
      text = String(text || '').replace(/\s+/g, ' ').trim();
      if (!text) continue;
      // A long sentence may be cut into several cues ("u12", "u12.2"…): keep it one sentence.
      var part = /^(.+)\.\d+$/.exec(cue.id || '');
      if (part && span && span.getAttribute('data-cue') === part[1]) {
        span.textContent += ' ' + text;
        span.setAttribute('data-end', String(cue.endTime));
        lastEnd = cue.endTime;
        continue;
      }
      if (!p || cue.startTime - lastEnd > 0.5) { p = make('p'); box.appendChild(p); } else { p.appendChild(document.createTextNode(' ')); }
      span = make('span', { 'class': 'ae-s', 'data-start': String(cue.startTime), 'data-end': String(cue.endTime),
        'data-cue': cue.id || '' });
      span.textContent = text;
      p.appendChild(span);
      lastEnd = cue.endTime;
    }
    this.ui.appendChild(box);
    return box;
  };

  Player.prototype.setTranscript = function (container, shown) {
    var self = this;
    this.transcript = container;
    if (!container.id) container.id = this.id + '-transcript';
    this.sentences = Array.prototype.slice.call(container.querySelectorAll('[data-start]'))
      .map(function (el) {
        return { el: el, start: parseFloat(el.getAttribute('data-start')), end: parseFloat(el.getAttribute('data-end')) };
      })
      .filter(function (s) { return isFinite(s.start); })
      .sort(function (a, b) { return a.start - b.start; });
    var hint = this.sentenceHint.id;
    this.sentences.forEach(function (s, i) {
      s.el.setAttribute('tabindex', i === 0 ? '0' : '-1');
      s.el.setAttribute('aria-describedby', hint);  // says that Enter listens from there
      s.el.classList.add('ae-seekable');
    });
    this.tools.hidden = false;
    this.buildSearch();

    container.addEventListener('click', function (event) {
      var el = event.target.closest && event.target.closest('.ae-seekable');
      if (el && container.contains(el) && !window.getSelection().toString()) self.seekToSentence(el);
    });
    container.addEventListener('keydown', function (event) { self.onTranscriptKey(event); });

    this.transcriptBtn.setAttribute('aria-controls', container.id);
    this.transcriptBtn.hidden = false;
    this.showTranscript(shown);
    this.follow(this.audio.currentTime);
  };

  Player.prototype.indexOf = function (el) {
    for (var i = 0; i < this.sentences.length; i++) if (this.sentences[i].el === el) return i;
    return -1;
  };

  Player.prototype.seekToSentence = function (el) {
    var i = this.indexOf(el);
    if (i < 0) return;
    this.moveFocus(i, false);
    this.seekTo(this.sentences[i].start);
    this.play();
  };

  Player.prototype.moveFocus = function (i, focus) {
    var s = this.sentences;
    if (!s.length) return;
    i = Math.max(0, Math.min(s.length - 1, i));
    if (s[this.focusIndex]) s[this.focusIndex].el.setAttribute('tabindex', '-1');
    this.focusIndex = i;
    s[i].el.setAttribute('tabindex', '0');
    if (focus) s[i].el.focus();
  };

  // Arrows move between sentences (one Tab stop for the whole text); Enter or Space listens from there.
  Player.prototype.onTranscriptKey = function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var i = this.indexOf(event.target);
    if (i < 0) return;
    var to = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: this.sentences.length - 1 };
    if (event.key in to) {
      event.preventDefault();
      this.moveFocus(to[event.key], true);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.seekToSentence(event.target);
    }
  };

  Player.prototype.sentenceAt = function (t) {
    var s = this.sentences, lo = 0, hi = s.length - 1, found = -1;
    while (lo <= hi) {           // the last sentence starting at or before t
      var mid = (lo + hi) >> 1;
      if (s[mid].start <= t + 0.001) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  };

  Player.prototype.follow = function (t) {
    if (!this.sentences.length) return;
    var i = this.sentenceAt(t);
    var sentence = i >= 0 ? this.sentences[i] : null;
    if (sentence === this.current) return;
    this.current = sentence;
    this.paint();
    this.showNow();
    if (!sentence) return;
    // Tab into the text lands on the sentence being read, unless the reader is moving around in it.
    if (!this.transcript.contains(document.activeElement)) this.moveFocus(i, false);
    if (this.mayScroll()) this.scrollToCurrent();
  };

  // Automatic scrolling never takes the focus away: not while it is in the player's controls, nor while a
  // keyboard user's focus is on something on screen outside the text; and not after the reader scrolled.
  Player.prototype.mayScroll = function () {
    if (!this.autoScroll || !this.highlightOn || this.audio.paused || this.followPaused) return false;
    var focus = document.activeElement;
    if (!focus || focus === document.body || focus === document.documentElement) return true;
    if (this.ui.contains(focus) && !this.transcript.contains(focus)) return false;
    if (this.transcript.contains(focus)) return true;
    var keyboard = false;
    try { keyboard = focus.matches(':focus-visible'); } catch (e) { keyboard = true; }
    return !(keyboard && inViewport(focus));
  };

  Player.prototype.paint = function () {
    var registry = highlightRegistry();
    if (this.range && registry) registry.delete(this.range);
    this.range = null;
    var previous = this.transcript && this.transcript.querySelectorAll('.ae-current, [aria-current]');
    if (previous) Array.prototype.forEach.call(previous, function (el) {
      el.classList.remove('ae-current');
      el.removeAttribute('aria-current');
    });
    if (!this.current || !this.started) return;
    this.current.el.setAttribute('aria-current', 'true');  // the sentence being read, whether painted or not
    if (!this.highlightOn) return;
    if (registry) {
      this.range = document.createRange();
      this.range.selectNodeContents(this.current.el);
      registry.add(this.range);
    } else {
      this.current.el.classList.add('ae-current');
    }
  };

  // « Phrase en cours » beside the controls: a magnifier user reads along without leaving the player.
  Player.prototype.showNow = function () {
    if (!this.nowLine || !this.sentences.length) return;
    var text = this.current && this.started ? this.current.el.textContent.replace(/\s+/g, ' ').trim() : '';
    this.nowLine.querySelector('.ae-now-text').textContent = text;
    this.nowLine.hidden = !text;
  };

  Player.prototype.scrollToCurrent = function () {
    var el = this.current.el;
    if (this.transcript.hidden || !el.getClientRects().length) return;
    var box = el.getBoundingClientRect();
    var view = window.innerHeight || document.documentElement.clientHeight;
    var inner = this.transcript.scrollHeight > this.transcript.clientHeight + 2;
    var outside = box.top < view * 0.15 || box.bottom > view * 0.85;
    if (inner) {
      var outer = this.transcript.getBoundingClientRect();
      outside = outside || box.top < outer.top || box.bottom > outer.bottom;
    }
    if (!outside) return;
    var smooth = !reducedMotion();
    el.scrollIntoView({ block: 'center', inline: 'nearest', behavior: smooth ? 'smooth' : 'auto' });
  };

  // --- search in the text: French, accents and case ignored; each result listens from its sentence ----------
  Player.prototype.buildSearch = function () {
    var self = this, id = this.id + '-search';
    var form = make('form', { 'class': 'ae-search', role: 'search', 'aria-label': 'Rechercher dans le texte' });
    form.innerHTML = '<label for="' + id + '">Rechercher dans le texte</label>' +
      '<span class="ae-search-row"><input type="search" id="' + id + '" class="ae-search-input" autocomplete="off" spellcheck="false">' +
      '<button type="submit" class="ae-btn ae-search-go">Rechercher</button></span>' +
      '<p class="ae-search-count" hidden></p><ol class="ae-results" aria-label="Résultats de la recherche" hidden></ol>';
    this.searchInput = form.querySelector('input');
    this.results = form.querySelector('.ae-results');
    this.resultCount = form.querySelector('.ae-search-count');
    form.addEventListener('submit', function (event) { event.preventDefault(); self.search(self.searchInput.value); });
    this.searchInput.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && self.searchInput.value) { self.searchInput.value = ''; self.search(''); }
    });
    this.tools.parentNode.insertBefore(form, this.tools.nextSibling);
  };

  Player.prototype.search = function (query) {
    var self = this, wanted = fold(query).trim(), found = [];
    this.results.textContent = '';
    if (!wanted) { this.results.hidden = true; this.resultCount.hidden = true; return; }
    this.sentences.forEach(function (s, i) {
      if (fold(s.el.textContent).indexOf(wanted) >= 0) found.push(i);
    });
    found.slice(0, MAX_RESULTS).forEach(function (i) {
      var s = self.sentences[i];
      var li = make('li');
      var btn = make('button', { type: 'button', 'class': 'ae-result' },
        '<span class="ae-chapter-time"></span> <span class="ae-result-text"></span>');
      btn.querySelector('.ae-chapter-time').textContent = clock(s.start);
      btn.querySelector('.ae-result-text').textContent = s.el.textContent.replace(/\s+/g, ' ').trim();
      btn.addEventListener('click', function () { self.seekToSentence(s.el); });
      li.appendChild(btn);
      self.results.appendChild(li);
    });
    var count = found.length === 0 ? 'Aucun résultat' : plural(found.length, 'résultat');
    var text = count + ' pour «\u00a0' + query.trim() + '\u00a0»' +
      (found.length > MAX_RESULTS ? ' (les ' + MAX_RESULTS + ' premiers sont affichés)' : '') + '.';
    this.resultCount.textContent = text;
    this.resultCount.hidden = false;
    this.results.hidden = !found.length;
    this.announce(text);
  };

  Player.prototype.toggleTranscript = function () {
    this.showTranscript(this.transcriptBtn.getAttribute('aria-expanded') !== 'true');
  };

  Player.prototype.showTranscript = function (show) {
    setExpanded(this.transcriptBtn, show);
    this.transcript.hidden = !show;
  };

  // --- Media Session: lock screen and headset controls ------------------------------------------------------
  Player.prototype.claimMediaSession = function () {
    if (!('mediaSession' in navigator)) return;
    var self = this, session = navigator.mediaSession, root = this.root;
    Player.sessionOwner = this;
    this.ownsSession = true;
    try {
      var artwork = root.getAttribute('data-artwork');
      session.metadata = new window.MediaMetadata({
        title: root.getAttribute('data-title') || document.title,
        artist: root.getAttribute('data-artist') || '',
        album: root.getAttribute('data-album') || '',
        artwork: artwork ? [{ src: new URL(artwork, document.baseURI).href }] : []
      });
    } catch (e) { /* MediaMetadata missing */ }
    var handlers = {
      play: function () { self.play(); },
      pause: function () { self.audio.pause(); },
      stop: function () { self.audio.pause(); },
      seekbackward: function (d) { self.skip(-((d && d.seekOffset) || SKIP_SECONDS)); },
      seekforward: function (d) { self.skip((d && d.seekOffset) || SKIP_SECONDS); },
      seekto: function (d) {
        if (d.fastSeek && self.audio.fastSeek) self.audio.fastSeek(d.seekTime); else self.seekTo(d.seekTime);
      },
      previoustrack: function () { self.jumpChapter(-1); },
      nexttrack: function () { self.jumpChapter(1); }
    };
    Object.keys(handlers).forEach(function (action) {
      try { session.setActionHandler(action, handlers[action]); } catch (e) { /* unsupported action */ }
    });
  };

  // --- start --------------------------------------------------------------------------------------------
  function init(scope) {
    var roots = (scope || document).querySelectorAll('.audio-edition');
    Array.prototype.forEach.call(roots, function (root) {
      if (root.audioEdition || !root.querySelector('audio')) return;
      root.audioEdition = new Player(root);
    });
  }

  window.AudioEdition = { init: init, Player: Player };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', function () { init(); });
  else init();
})();
