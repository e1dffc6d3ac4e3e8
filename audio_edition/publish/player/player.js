/*! audio-edition read-along player — vanilla JavaScript, no dependencies. GPL-3.0-or-later.
 *
 * Enhances every `.audio-edition` element holding an `<audio>`:
 *   <div class="audio-edition" data-chapters="…/chapters.json" data-title="…">
 *     <audio controls preload="metadata" src="…/episode.mp3">
 *       <track kind="captions" src="…/transcript.vtt" srclang="fr" label="Transcription (français)">
 *     </audio>
 *     <p class="ae-noscript-links"><a href="…/#transcription">Lire la transcription</a></p>
 *   </div>
 * Without JavaScript the native <audio controls> and the links stay. With it: French-labelled buttons, a seek
 * slider, speed, volume, chapters, transcript and download, plus a read-along transcript whose current sentence
 * is highlighted (CSS Custom Highlight API, or a class). The text is never rewritten during playback.
 *
 * Sentences come from `data-transcript` (id of an element holding `[data-start][data-end]` elements: the episode
 * page), or else from the WebVTT cues of the <track> (built once, before any playback).
 */
(function () {
  'use strict';

  var SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
  var SKIP_SECONDS = 15;
  var ARROW_STEP = 5;      // seek slider: arrows move 5 s
  var PAGE_STEP = 30;      // PageUp / PageDown move 30 s
  var HIGHLIGHT_NAME = 'audio-edition-current';
  var STORAGE_KEY = 'audio-edition-player';
  var uid = 0;

  var ICONS = {
    play: '<path d="M8 5v14l11-7z"/>',
    pause: '<path d="M6 5h4v14H6zM14 5h4v14h-4z"/>',
    back: '<path d="M12 4A8.5 8.5 0 1 1 3.5 12.5" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<path d="M12 .8 7.6 4l4.4 3.2z"/>',
    forward: '<path d="M12 4a8.5 8.5 0 1 0 8.5 8.5" fill="none" stroke="currentColor" stroke-width="2"/>' +
      '<path d="m12 .8 4.4 3.2L12 7.2z"/>',
    volume: '<path d="M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z"/>',
    muted: '<path d="M3 9v6h4l5 5V4L7 9H3zm18.3-1.3-1.4-1.4L17 9.2l-2.9-2.9-1.4 1.4 2.9 2.9-2.9 2.9 1.4 1.4 2.9-2.9 2.9 2.9 1.4-1.4-2.9-2.9z"/>',
    chapters: '<path d="M4 6h2v2H4zm4 0h12v2H8zm-4 5h2v2H4zm4 0h12v2H8zm-4 5h2v2H4zm4 0h12v2H8z"/>',
    transcript: '<path d="M5 3h10l4 4v14H5zm2 6v2h10V9zm0 4v2h10v-2zm0 4v2h7v-2z"/>',
    download: '<path d="M11 3h2v9l3.5-3.5 1.4 1.4L12 15.8 6.1 9.9l1.4-1.4L11 12zM5 18h14v2H5z"/>'
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

  function icon(name) {
    return '<svg class="ae-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">' +
      ICONS[name] + '</svg>';
  }

  // A button whose accessible name contains its visible label (WCAG 2.5.3).
  function button(cls, iconName, label, extra) {
    var node = make('button', Object.assign({ type: 'button', 'class': 'ae-btn ' + cls }, extra || {}));
    node.innerHTML = (iconName ? icon(iconName) : '') + '<span class="ae-label"></span>';
    node.querySelector('.ae-label').textContent = label;
    return node;
  }

  // Round arrow with "15" inside: the visible label is the number, the name the full French phrase around it.
  function iconButton(cls, iconName, name) {
    var node = make('button', { type: 'button', 'class': 'ae-btn ae-icon-btn ' + cls });
    node.innerHTML = icon(iconName) + '<span class="ae-icon-num" aria-hidden="true">15</span><span class="ae-vh"></span>';
    node.querySelector('.ae-vh').textContent = name;
    return node;
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
    this.userSeeking = false;
    this.started = false;     // no highlight before the first play or seek
    this.build();
    this.bindAudio();
    this.loadTranscript();
    this.loadChapters();
  }

  Player.prototype.build = function () {
    var self = this, root = this.root, audio = this.audio;
    var title = root.getAttribute('data-title') || document.title;

    audio.controls = false;   // our controls replace the native ones; never autoplay
    audio.autoplay = false;
    audio.removeAttribute('autoplay');
    if (audio.preload === 'auto') audio.preload = 'metadata';
    root.classList.add('ae-enhanced');

    var ui = make('div', { 'class': 'ae-player', role: 'group', 'aria-label': 'Lecteur audio : ' + title });
    this.ui = ui;

    // Row 1: back 15 s, play/pause, forward 15 s, then the seek slider.
    var top = make('div', { 'class': 'ae-row ae-row-main' });
    var transport = make('div', { 'class': 'ae-transport' });
    this.backBtn = iconButton('ae-back', 'back', 'Reculer de 15 secondes');
    this.playBtn = button('ae-play', 'play', 'Lecture');
    this.fwdBtn = iconButton('ae-forward', 'forward', 'Avancer de 15 secondes');
    transport.appendChild(this.backBtn);
    transport.appendChild(this.playBtn);
    transport.appendChild(this.fwdBtn);
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

    // Row 2: the other controls.
    var row = make('div', { 'class': 'ae-row ae-row-controls' });
    this.speedBtn = button('ae-speed', null, 'Vitesse\u00a0: 1×');
    this.muteBtn = button('ae-mute', 'volume', 'Muet', { 'aria-pressed': 'false' });
    this.volume = make('input', {
      type: 'range', 'class': 'ae-range ae-volume', min: '0', max: '1', step: '0.05', value: '1',
      'aria-label': 'Volume', 'aria-valuetext': '100 %'
    });
    var volumeGroup = make('div', { 'class': 'ae-volume-group' });
    volumeGroup.appendChild(this.muteBtn);
    volumeGroup.appendChild(this.volume);
    this.chapterBtn = button('ae-chapters-toggle', 'chapters', 'Chapitres',
      { 'aria-expanded': 'false', 'aria-controls': this.id + '-chapters', hidden: '' });
    this.transcriptBtn = button('ae-transcript-toggle', 'transcript', 'Transcription',
      { 'aria-expanded': 'false', hidden: '' });
    this.download = make('a', { 'class': 'ae-btn ae-download', href: audio.currentSrc || audio.getAttribute('src') || '', download: '' });
    this.download.innerHTML = icon('download') + '<span class="ae-label">Télécharger</span>' +
      '<span class="ae-vh"> l’épisode (MP3)</span>';
    // Two groups (listening settings, then things to open or take away) that wrap as units. The chapter
    // toggle comes last so that its list follows it directly in the Tab order.
    var sound = make('div', { 'class': 'ae-group ae-group-sound' });
    var more = make('div', { 'class': 'ae-group ae-group-more' });
    [this.speedBtn, volumeGroup].forEach(function (n) { sound.appendChild(n); });
    [this.download, this.transcriptBtn, this.chapterBtn].forEach(function (n) { more.appendChild(n); });
    row.appendChild(sound);
    row.appendChild(more);

    this.chapterPanel = make('div', { 'class': 'ae-panel ae-chapter-panel', id: this.id + '-chapters', hidden: '' });
    this.status = make('div', { 'class': 'ae-vh ae-status', role: 'status' });

    ui.appendChild(top);
    ui.appendChild(row);
    ui.appendChild(this.chapterPanel);
    ui.appendChild(this.status);
    root.insertBefore(ui, audio.nextSibling);

    // Listeners.
    this.playBtn.addEventListener('click', function () { self.toggle(); });
    this.backBtn.addEventListener('click', function () { self.skip(-SKIP_SECONDS); });
    this.fwdBtn.addEventListener('click', function () { self.skip(SKIP_SECONDS); });
    this.speedBtn.addEventListener('click', function () { self.stepSpeed(1, true); });
    this.muteBtn.addEventListener('click', function () { self.setMuted(!audio.muted); });
    this.volume.addEventListener('input', function () { self.setVolume(parseFloat(self.volume.value)); });
    this.chapterBtn.addEventListener('click', function () { self.togglePanel(self.chapterBtn, self.chapterPanel); });
    this.transcriptBtn.addEventListener('click', function () { self.toggleTranscript(); });
    this.slider.addEventListener('input', function () {
      self.seekTo(parseFloat(self.slider.value));
    });
    this.slider.addEventListener('pointerdown', function () { self.userSeeking = true; });
    ['pointerup', 'pointercancel', 'change', 'blur'].forEach(function (type) {
      self.slider.addEventListener(type, function () { self.userSeeking = false; });
    });
    this.slider.addEventListener('keydown', function (event) { self.onSliderKey(event); });
    root.addEventListener('keydown', function (event) { self.onShortcut(event); });
    this.chapterPanel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') { self.togglePanel(self.chapterBtn, self.chapterPanel, false); self.chapterBtn.focus(); }
    });

    // Preferences remembered across episodes.
    if (SPEEDS.indexOf(this.prefs.speed) >= 0) this.setSpeed(this.prefs.speed, false);
    if (typeof this.prefs.volume === 'number') this.setVolume(this.prefs.volume);
    var duration = parseFloat(root.getAttribute('data-duration'));
    if (duration > 0) this.setDuration(duration);
  };

  Player.prototype.bindAudio = function () {
    var self = this, audio = this.audio;
    var tick = function () { self.onTime(); };
    audio.addEventListener('loadedmetadata', function () { self.setDuration(audio.duration); tick(); });
    audio.addEventListener('durationchange', function () { self.setDuration(audio.duration); });
    audio.addEventListener('timeupdate', tick);
    audio.addEventListener('seeked', tick);
    audio.addEventListener('play', function () { self.start(); self.onPlayState(true); self.claimMediaSession(); self.frame(); });
    audio.addEventListener('pause', function () { self.onPlayState(false); });
    audio.addEventListener('ended', function () { self.onPlayState(false); });
    audio.addEventListener('ratechange', function () { self.showSpeed(); });
    audio.addEventListener('volumechange', function () { self.showVolume(); });
    audio.addEventListener('error', function () {
      self.announce('Le fichier audio n’a pas pu être chargé. Vous pouvez le télécharger.');
      self.root.classList.add('ae-error');
    });
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

  Player.prototype.play = function () {
    var self = this;
    var promise = this.audio.play();
    if (promise && promise.catch) {
      promise.catch(function (err) {
        if (err && err.name !== 'AbortError') self.announce('La lecture n’a pas pu démarrer.');
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
    this.onTime(t);
  };

  Player.prototype.start = function () {
    if (this.started) return;
    this.started = true;
    this.paint();
  };

  Player.prototype.skip = function (delta) { this.seekTo(this.audio.currentTime + delta); };

  Player.prototype.setSpeed = function (rate, announce) {
    this.audio.playbackRate = rate;
    this.audio.defaultPlaybackRate = rate;
    this.prefs.speed = rate;
    savePrefs(this.prefs);
    this.showSpeed();
    if (announce) this.announce('Vitesse de lecture : ' + speedLabel(rate));
  };

  Player.prototype.stepSpeed = function (direction, wrap) {
    var i = SPEEDS.indexOf(this.audio.playbackRate);
    if (i < 0) i = SPEEDS.indexOf(1);
    var next = i + direction;
    if (wrap) next = (next + SPEEDS.length) % SPEEDS.length;
    next = Math.max(0, Math.min(SPEEDS.length - 1, next));
    this.setSpeed(SPEEDS[next], true);
  };

  Player.prototype.showSpeed = function () {
    this.speedBtn.querySelector('.ae-label').textContent = 'Vitesse\u00a0: ' + speedLabel(this.audio.playbackRate);
  };

  Player.prototype.setMuted = function (muted) {
    this.audio.muted = muted;
    this.showVolume();
  };

  Player.prototype.setVolume = function (value) {
    var v = Math.max(0, Math.min(1, value));
    this.audio.volume = v;
    if (v > 0 && this.audio.muted) this.audio.muted = false;
    this.prefs.volume = v;
    savePrefs(this.prefs);
    this.showVolume();
  };

  Player.prototype.showVolume = function () {
    var muted = this.audio.muted || this.audio.volume === 0;
    this.muteBtn.setAttribute('aria-pressed', String(this.audio.muted));
    this.muteBtn.querySelector('svg').innerHTML = ICONS[muted ? 'muted' : 'volume'];
    this.volume.value = String(this.audio.volume);
    this.volume.setAttribute('aria-valuetext', Math.round(this.audio.volume * 100) + ' %' + (this.audio.muted ? ', son coupé' : ''));
    this.volume.style.setProperty('--ae-fill', (this.audio.volume * 100) + '%');
  };

  Player.prototype.onPlayState = function (playing) {
    this.playBtn.querySelector('.ae-label').textContent = playing ? 'Pause' : 'Lecture';
    this.playBtn.querySelector('svg').innerHTML = ICONS[playing ? 'pause' : 'play'];
    this.root.classList.toggle('ae-playing', playing);
    if ('mediaSession' in navigator && this.ownsSession) {
      navigator.mediaSession.playbackState = playing ? 'playing' : 'paused';
    }
  };

  Player.prototype.setDuration = function (seconds) {
    if (!(isFinite(seconds) && seconds > 0)) return;
    this.knownDuration = seconds;
    this.slider.max = String(seconds);
    this.timeText.querySelector('.ae-time-total').textContent = clock(seconds);
    this.onTime();
  };

  Player.prototype.onTime = function (at) {
    var t = typeof at === 'number' ? at : this.audio.currentTime;
    var d = this.duration();
    if (!this.userSeeking) this.slider.value = String(t);
    var second = Math.floor(t);
    if (second !== this.shownSecond || d !== this.shownDuration) {
      this.shownSecond = second;
      this.shownDuration = d;
      this.slider.setAttribute('aria-valuetext', spokenTime(t) + ' sur ' + spokenTime(d));
      this.timeText.querySelector('.ae-time-current').textContent = clock(t);
    }
    this.slider.style.setProperty('--ae-fill', (d ? (100 * t / d) : 0) + '%');
    this.follow(t);
    this.markChapter(t);
    if ('mediaSession' in navigator && this.ownsSession && navigator.mediaSession.setPositionState && d) {
      try {
        navigator.mediaSession.setPositionState({ duration: d, playbackRate: this.audio.playbackRate, position: Math.min(t, d) });
      } catch (e) { /* older browsers */ }
    }
  };

  Player.prototype.announce = function (message) {
    var status = this.status;
    status.textContent = '';
    window.setTimeout(function () { status.textContent = message; }, 50);
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
    if (this.transcript && this.transcript.contains(target)) return;
    var actions = {
      k: function (p) { p.toggle(); },
      j: function (p) { p.skip(-SKIP_SECONDS); },
      l: function (p) { p.skip(SKIP_SECONDS); },
      m: function (p) { p.setMuted(!p.audio.muted); },
      '<': function (p) { p.stepSpeed(-1, false); },
      '>': function (p) { p.stepSpeed(1, false); }
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
      btn.addEventListener('click', function () { self.seekTo(start); self.play(); });
      li.appendChild(btn);
      ol.appendChild(li);
      return { start: start, end: end, title: c.title, button: btn };
    });
    this.chapterPanel.appendChild(ol);
    this.chapterBtn.hidden = false;
    this.markChapter(this.audio.currentTime);
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
    if (direction < 0 && i >= 0 && t - this.chapters[i].start > 3) { this.seekTo(this.chapters[i].start); return; }
    var next = this.chapters[i + direction];
    if (next) this.seekTo(next.start);
  };

  Player.prototype.togglePanel = function (btn, panel, open) {
    var show = open === undefined ? btn.getAttribute('aria-expanded') !== 'true' : open;
    btn.setAttribute('aria-expanded', String(show));
    panel.hidden = !show;
  };

  // --- transcript and read-along ------------------------------------------------------------------------
  Player.prototype.loadTranscript = function () {
    var self = this, id = this.root.getAttribute('data-transcript');
    var inPage = id ? document.getElementById(id) : null;
    if (inPage) {
      this.setTranscript(inPage, true);
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
    this.sentences.forEach(function (s, i) {
      s.el.setAttribute('tabindex', i === 0 ? '0' : '-1');
      s.el.classList.add('ae-seekable');
    });

    // Read-along switches, just above the text they act on.
    var tools = make('div', { 'class': 'ae-readalong-tools', role: 'group', 'aria-label': 'Lecture suivie' });
    this.scrollBtn = button('ae-autoscroll', null, 'Défilement automatique', { 'aria-pressed': String(this.autoScroll) });
    this.highlightBtn = button('ae-highlight', null, 'Surligner la phrase lue', { 'aria-pressed': String(this.highlightOn) });
    tools.appendChild(this.scrollBtn);
    tools.appendChild(this.highlightBtn);
    container.parentNode.insertBefore(tools, container);
    this.tools = tools;
    this.scrollBtn.addEventListener('click', function () {
      self.autoScroll = !self.autoScroll;
      self.scrollBtn.setAttribute('aria-pressed', String(self.autoScroll));
      self.prefs.autoScroll = self.autoScroll; savePrefs(self.prefs);
    });
    this.highlightBtn.addEventListener('click', function () {
      self.highlightOn = !self.highlightOn;
      self.highlightBtn.setAttribute('aria-pressed', String(self.highlightOn));
      self.prefs.highlight = self.highlightOn; savePrefs(self.prefs);
      self.paint();
    });

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
    if (!sentence) return;
    // Tab into the text lands on the sentence being read, unless the reader is moving around in it.
    if (!this.transcript.contains(document.activeElement)) this.moveFocus(i, false);
    if (this.autoScroll && this.highlightOn && !this.audio.paused) this.scrollToCurrent();
  };

  Player.prototype.paint = function () {
    var registry = highlightRegistry();
    if (this.range && registry) registry.delete(this.range);
    this.range = null;
    var previous = this.transcript && this.transcript.querySelector('.ae-current');
    if (previous) previous.classList.remove('ae-current');
    if (!this.current || !this.highlightOn || !this.started) return;
    if (registry) {
      this.range = document.createRange();
      this.range.selectNodeContents(this.current.el);
      registry.add(this.range);
    } else {
      this.current.el.classList.add('ae-current');
    }
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
    if (outside) el.scrollIntoView({ block: 'center', inline: 'nearest', behavior: reducedMotion() ? 'auto' : 'smooth' });
  };

  Player.prototype.toggleTranscript = function () {
    this.showTranscript(this.transcriptBtn.getAttribute('aria-expanded') !== 'true');
  };

  Player.prototype.showTranscript = function (show) {
    this.transcriptBtn.setAttribute('aria-expanded', String(show));
    this.transcript.hidden = !show;
    if (this.tools) this.tools.hidden = !show;
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
