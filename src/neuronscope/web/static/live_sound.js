// The live page's sounds (loaded before live.js, whose state, $ and send it uses when
// called): a file or the microphone made a 16-bit WAV and sent to the server.
"use strict";

// ---- sound: any file the browser can play, or the microphone, sent as a 16-bit WAV ----

async function sendSound(file) {
  const bytes = await file.arrayBuffer(), secs = wavSeconds(bytes);
  if (secs !== null && secs <= state.info.max_seconds && bytes.byteLength <= state.info.max_bytes) {
    state.converted = false;
    await sendWav(new Blob([bytes], { type: "audio/wav" }), "");  // the server reads it as is
    return;
  }
  let audio;
  try {  // decoded (and resampled) by the browser: MP3, Ogg, FLAC... all become PCM
    const rate = Math.max(state.info.sample_rate || 0, 22050);
    audio = await new OfflineAudioContext(1, 1, rate).decodeAudioData(bytes);
  } catch (err) {  // not a sound this browser plays: the server says what it is
    if (!(await send(file, "application/octet-stream"))) unplayable();
    return;
  }
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const d = audio.getChannelData(c);
    for (let i = 0; i < d.length; i++) mono[i] += d[i] / audio.numberOfChannels;
  }
  state.converted = true;  // the note then speaks of the WAV sent, not of the file
  const most = Math.min(Math.floor(state.info.max_seconds * audio.sampleRate),
                        Math.floor((state.info.max_bytes - 44) / 2));
  await sendWav(wavBlob(mono.subarray(0, most), audio.sampleRate),
                mono.length > most ? "sent the first " + (most / audio.sampleRate).toFixed(1)
                  + " s of " + audio.duration.toFixed(1) + " s" : "");
}

function unplayable() {  // the server's advice is for other clients: this is the picker
  const status = $("status"), advice = ": " + state.info.accepted;
  if (state.info.accepted && status.textContent.endsWith(advice)) {
    status.textContent = status.textContent.slice(0, -advice.length) +
      ": this browser cannot play it either; pick a WAV, or any sound this browser plays";
  }
}

async function sendWav(blob, note) {
  clearSound();
  $("input-audio").src = URL.createObjectURL(blob);
  $("sound").hidden = false;
  if (await send(blob, "audio/wav") && note) $("status").textContent = note;
}

function clearSound() {  // no players or note of a sound before (an upload was refused)
  for (const id of ["input-audio", "heard-audio"]) {
    const a = $(id);
    a.pause();
    if (a.src.startsWith("blob:")) URL.revokeObjectURL(a.src);
    a.removeAttribute("src"); a.load();
  }
  $("input-note").textContent = ""; $("sound").hidden = true;
}

async function record() {
  const secs = state.info.record_seconds, button = $("record");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("status").textContent = "no microphone: this browser offers none to this page " +
      "(it needs https or localhost)"; return;
  }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (err) {
    $("status").textContent = "no microphone: " + ({ NotAllowedError: "the browser refused " +
      "access to it", NotFoundError: "none found" }[err.name] || String(err)); return;
  }
  button.disabled = true; $("status").textContent = "recording " + secs + " s...";
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const source = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(4096, 1, 1);
    const want = Math.round(secs * ctx.sampleRate), chunks = [];
    let got = 0;
    await new Promise((resolve, reject) => {
      const late = setTimeout(() => reject(new Error("the microphone sent no sound")),
                              secs * 1000 + 4000);
      node.onaudioprocess = (e) => {
        if (got >= want) return;
        chunks.push(new Float32Array(e.inputBuffer.getChannelData(0))); got += 4096;
        if (got >= want) { clearTimeout(late); resolve(); }
      };
      source.connect(node); node.connect(ctx.destination);  // its output stays silent
    });
    source.disconnect(); node.disconnect();
    const all = new Float32Array(got);
    chunks.forEach((c, i) => all.set(c, i * 4096));
    state.converted = false;
    await sendWav(wavBlob(all.subarray(0, want), ctx.sampleRate), "");
  } catch (err) { $("status").textContent = "recording failed: " + err.message; } finally {
    stream.getTracks().forEach((t) => t.stop()); ctx.close(); button.disabled = false;
  }
}

function wavSeconds(bytes) {  // the length of a PCM or float WAV (what the server reads), or null
  const v = new DataView(bytes), n = bytes.byteLength;
  const tag = (at) => String.fromCharCode(...new Uint8Array(bytes, at, 4));
  if (n < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let read = false, byteRate = 0;
  for (let at = 12, size = 0; at + 8 <= n; at += 8 + size + (size & 1)) {
    size = v.getUint32(at + 4, true);
    if (tag(at) === "fmt " && at + 24 <= n) {
      const format = v.getUint16(at + 8, true);  // 1: PCM, 3: float; 0xFFFE: its sub-format
      const sub = format === 0xFFFE && at + 34 <= n ? v.getUint16(at + 32, true) : format;
      read = sub === 1 || (sub === 3 && [32, 64].includes(v.getUint16(at + 22, true)));
      byteRate = v.getUint32(at + 16, true);
    }
    if (tag(at) === "data") {  // 0xFFFFFFFF: streamed out, as long as the file is
      const bytes = size === 0xFFFFFFFF ? n - at - 8 : size;
      return read && byteRate ? bytes / byteRate : null;
    }
  }
  return null;
}

function wavBlob(samples, rate) {  // mono 16-bit PCM
  const n = samples.length, view = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (at, s) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) {
    view.setInt16(44 + 2 * i, Math.round(Math.max(-1, Math.min(1, samples[i])) * 32767), true);
  }
  return new Blob([view.buffer], { type: "audio/wav" });
}

function showInput(input) {  // what the server made of a sound: the spectrogram it heard
  const img = new Image();
  img.onload = () => {
    const view = $("input-view");
    view.getContext("2d").drawImage(img, 0, 0, view.width, view.height);
    view.dataset.drawn = "1";
  };
  img.src = input.picture;
  $("heard-audio").src = input.heard; $("sound").hidden = false;
  const kHz = (r) => (r / 1000).toFixed(r % 1000 ? 1 : 0) + " kHz";
  const end = Math.min(input.start + input.heard_seconds, input.seconds);
  const padded = input.heard_seconds - (end - input.start);  // silence added after a short clip
  $("input-note").textContent = (state.converted ? "decoded by the browser and sent as " : "") +
    kHz(input.rate) + ", " + input.channels + " channel" +
    (input.channels > 1 ? "s" : "") + ", " + input.bits + "-bit" +
    (input.encoding === "float" ? " float" : "") + ", " + input.seconds.toFixed(2) + " s" +
    (input.declared_seconds ? " (the file is cut short: its header promised " +
      input.declared_seconds.toFixed(2) + " s)" : "") + "; heard " + input.start.toFixed(2) + "-" + end.toFixed(2) + " s" +
    (padded > 0.005 ? " and " + padded.toFixed(2) + " s of silence" : "") + " at " +
    kHz(state.info.sample_rate) + (input.copied_channels ? "; the model takes " +
      input.copied_channels + " channels and gets this one spectrogram in each (channels " +
      "it was trained on that are made otherwise, such as deltas, are not made here)" : "");
}
