/*! audio-edition show page — plays an episode in place, one at a time; copies the feed address. GPL-3.0-or-later.
 *
 * Each episode of the show page has a `.ae-show-listen` slot whose data-* attributes name its MP3, WebVTT and
 * chapters. This script gives each slot an « Écouter » button; pressing it builds the read-along player
 * (player.js) in that slot and plays it. There is one audio element on the page at a time: starting another
 * episode pauses and removes the current player, and its button comes back. Without JavaScript the slot keeps
 * its links (the episode page, the MP3).
 */
(function () {
  'use strict';

  var current = null;   // {slot, button, root}

  function stop() {
    if (!current) return;
    var audio = current.root.querySelector('audio');
    if (audio) {
      audio.pause();
      audio.removeAttribute('src');
      audio.load();       // lets go of the MP3's connection
    }
    current.root.parentNode.removeChild(current.root);
    current.button.hidden = false;
    current = null;
  }

  function listen(slot, button) {
    stop();
    var d = slot.dataset;
    var root = document.createElement('div');
    root.className = 'audio-edition';
    root.setAttribute('data-title', d.title || '');
    if (d.chapters) root.setAttribute('data-chapters', d.chapters);
    if (d.duration) root.setAttribute('data-duration', d.duration);
    var audio = document.createElement('audio');
    audio.controls = true;
    audio.preload = 'metadata';
    audio.src = d.audio;
    if (d.vtt) {
      var track = document.createElement('track');
      track.kind = 'captions';
      track.src = d.vtt;
      track.srclang = 'fr';
      track.label = 'Transcription (français)';
      audio.appendChild(track);
    }
    root.appendChild(audio);
    slot.insertBefore(root, slot.firstChild);
    button.hidden = true;
    current = { slot: slot, button: button, root: root };
    window.AudioEdition.init(slot);
    var player = root.audioEdition;
    var play = root.querySelector('.ae-play');
    if (play) play.focus();  // the keyboard goes on from the player's own Lecture/Pause button
    if (player) player.play();
  }

  function setUp() {
    if (!window.AudioEdition) return;  // player.js failed to load: the links stay
    Array.prototype.forEach.call(document.querySelectorAll('.ae-show-listen[data-audio]'), function (slot) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'ae-btn ae-show-play';
      button.innerHTML = '<svg class="ae-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" ' +
        'focusable="false"><path d="M8 5v14l11-7z"/></svg><span class="ae-label">Écouter</span>' +
        '<span class="ae-vh"></span>';
      button.querySelector('.ae-vh').textContent = '\u00a0: ' + (slot.dataset.title || '');
      button.addEventListener('click', function () { listen(slot, button); });
      slot.insertBefore(button, slot.firstChild);
    });

    Array.prototype.forEach.call(document.querySelectorAll('.ae-copy[data-copy]'), function (button) {
      var field = document.getElementById(button.getAttribute('data-copy'));
      var status = button.closest('.ae-feed') && button.closest('.ae-feed').querySelector('.ae-copy-status');
      if (!field) return;
      button.hidden = false;
      button.addEventListener('click', function () {
        var done = function () { if (status) status.textContent = 'Adresse copiée.'; };
        var fallback = function () {
          field.focus();
          field.select();
          try {
            if (document.execCommand('copy')) { done(); return; }
          } catch (e) { /* refused */ }
          if (status) status.textContent = 'Adresse sélectionnée : copiez-la avec Ctrl+C (ou Cmd+C).';
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(field.value).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', setUp); else setUp();
})();
