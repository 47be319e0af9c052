// gpu-mlp draw: the drawing pad, the calls to /api/predict and the display of the answer.
//
// The page's state is mirrored on <body> for scripts and tests:
//   data-state       loading | ready | busy (a prediction is scheduled or in flight) | error
//   data-predictions number of answers shown so far
//   data-changes     number of changes to the drawing so far
//   data-answered    the value of data-changes that the answer on screen was computed for
"use strict";

(() => {
  const LINE_WIDTH = 26;     // in canvas pixels (the canvas is 280 wide): 2-3 px at 28x28
  const THROTTLE_MS = 120;   // while drawing, at most one prediction per interval

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const seenCtx = seen.getContext("2d");
  const prediction = document.getElementById("prediction");
  const confidence = document.getElementById("confidence");
  const bars = document.getElementById("bars");
  const status = document.getElementById("status");

  let classes = [];
  let activePointer = null;  // one stroke at a time (a second finger is ignored)
  let last = null;
  let hasInk = false;
  let timer = null;          // the scheduled prediction
  let inFlight = false;
  let again = false;         // the drawing changed while a prediction was in flight
  let epoch = 0;             // bumped by Clear: answers for an older drawing are dropped
  let shown = 0;
  let changes = 0;

  function setState(state) {
    document.body.dataset.state = state;
  }

  function updateBusy() {
    if (document.body.dataset.state === "error" && !inFlight && timer === null) return;
    setState(inFlight || timer !== null ? "busy" : "ready");
  }

  // --- drawing -----------------------------------------------------------------------------

  function blank() {
    ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function point(event) {
    const rect = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * pad.width) / rect.width,
      y: ((event.clientY - rect.top) * pad.height) / rect.height,
    };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, LINE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function segment(from, to) {
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (activePointer !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    activePointer = event.pointerId;
    try {
      pad.setPointerCapture(event.pointerId);
    } catch (_) {
      // Synthetic events have no capturable pointer; drawing works without capture.
    }
    last = point(event);
    dot(last);
    drawn(false);
  });

  pad.addEventListener("pointermove", (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = point(e);
      segment(last, p);
      last = p;
    }
    drawn(false);
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    last = null;
    drawn(true);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  function drawn(strokeEnded) {
    hasInk = true;
    changes += 1;
    document.body.dataset.changes = String(changes);
    if (strokeEnded) {
      clearTimeout(timer);
      timer = setTimeout(predict, 0);
    } else if (timer === null) {
      timer = setTimeout(predict, THROTTLE_MS);
    }
    updateBusy();
  }

  function clear() {
    epoch += 1;
    clearTimeout(timer);
    timer = null;
    again = false;
    hasInk = false;
    activePointer = null;
    blank();
    seenCtx.clearRect(0, 0, seen.width, seen.height);
    showIdle();
    status.textContent = "";
    document.body.dataset.answered = String(changes);
    updateBusy();
  }

  document.getElementById("clear").addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete") clear();
  });

  // --- talking to the server ------------------------------------------------------------------

  function predict() {
    timer = null;
    if (!hasInk) return updateBusy();
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    updateBusy();
    const asked = epoch;
    const upTo = changes;
    pad.toBlob(async (png) => {
      let answer = null;
      try {
        if (!png) throw new Error("the browser could not encode the drawing");
        const response = await fetch("/api/predict", {
          method: "POST",
          headers: { "Content-Type": "image/png" },
          body: png,
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
        answer = body;
      } catch (error) {
        fail(error);
      }
      inFlight = false;
      if (answer && asked === epoch) show(answer, upTo);
      if (again) {
        again = false;
        timer = setTimeout(predict, 0);
      }
      updateBusy();
    }, "image/png");
  }

  function fail(error) {
    const message = error instanceof TypeError
      ? "cannot reach the server: is `gpu-mlp draw` still running?"
      : error.message;
    status.textContent = `Error: ${message}`;
    setState("error");
  }

  // --- showing the answer -------------------------------------------------------------------

  function buildBars(names) {
    bars.replaceChildren();
    for (const name of names) {
      const row = document.createElement("li");
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      track.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "0%";
      row.append(label, track, value);
      bars.append(row);
    }
  }

  function setBars(probabilities, top) {
    [...bars.children].forEach((row, i) => {
      const p = probabilities ? probabilities[i] : 0;
      row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".value").textContent = `${Math.round(100 * p)}%`;
      row.classList.toggle("top", i === top);
    });
  }

  function showIdle() {
    prediction.textContent = "–";
    prediction.classList.remove("long");
    prediction.dataset.class = "";
    confidence.textContent = "nothing drawn yet";
    setBars(null, -1);
  }

  function show(answer, upTo) {
    drawSeen(answer.input, answer.rows, answer.cols);
    if (answer.blank) {
      showIdle();
    } else {
      prediction.textContent = answer.label;
      prediction.classList.toggle("long", answer.label.length > 3);
      prediction.dataset.class = String(answer.class);
      confidence.textContent = `${(100 * answer.confidence).toFixed(1)}% sure`;
      setBars(answer.probabilities, answer.class);
    }
    status.textContent = "";
    shown += 1;
    document.body.dataset.predictions = String(shown);
    document.body.dataset.answered = String(upTo);
  }

  function drawSeen(input, rows, cols) {
    if (seen.width !== cols || seen.height !== rows) {
      seen.width = cols;
      seen.height = rows;
    }
    const image = seenCtx.createImageData(cols, rows);
    for (let i = 0; i < rows * cols; i += 1) {
      const v = Math.round(255 * Math.min(1, Math.max(0, input[i])));
      image.data.set([v, v, v, 255], 4 * i);
    }
    seenCtx.putImageData(image, 0, 0);
  }

  // --- start --------------------------------------------------------------------------------

  async function start() {
    blank();
    document.body.dataset.predictions = "0";
    document.body.dataset.changes = "0";
    document.body.dataset.answered = "0";
    try {
      const response = await fetch("/api/model");
      const model = await response.json();
      if (!response.ok) throw new Error(model.error || `the server answered ${response.status}`);
      classes = model.classes;
      buildBars(classes);
      showIdle();
      const parts = [
        model.network,
        model.dataset && `trained on ${model.dataset}`,
        `${model.classes.length} classes`,
        model.engine && `${model.engine} engine`,
      ];
      document.getElementById("model").textContent = parts.filter(Boolean).join(" · ");
      document.getElementById("seen-shape").textContent = `${model.rows}×${model.cols}`;
      const digits = classes.every((c) => /^\d$/.test(c));
      document.getElementById("hint").textContent = digits
        ? "Draw a digit, large."
        : `Draw one of: ${classes.join(", ")}.`;
      setState("ready");
    } catch (error) {
      fail(error);
    }
  }

  start();
})();
