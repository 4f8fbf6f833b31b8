// A brush to paint the part of an image to change: size, eraser, undo, clear.
// The canvas has the image's own pixel size; painted pixels are opaque on transparency,
// which the server reads as "change here".
import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from "react";

export interface MaskHandle {
  dataUrl: () => string | null;
}

export const MaskCanvas = forwardRef<MaskHandle, { src: string; width: number; height: number }>(function MaskCanvas(
  { src, width, height },
  ref,
) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState(Math.max(8, Math.round(Math.min(width, height) / 12)));
  const [eraser, setEraser] = useState(false);
  const [history, setHistory] = useState<ImageData[]>([]);
  const [painted, setPainted] = useState(false);
  const drawing = useRef<{ x: number; y: number } | null>(null);

  useEffect(() => {
    const c = canvas.current;
    if (c) c.getContext("2d")!.clearRect(0, 0, c.width, c.height);
    setHistory([]);
    setPainted(false);
  }, [src]);

  useImperativeHandle(ref, () => ({ dataUrl: () => (painted && canvas.current ? canvas.current.toDataURL("image/png") : null) }), [painted]);

  const point = (e: React.PointerEvent) => {
    const r = canvas.current!.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * width, y: ((e.clientY - r.top) / r.height) * height };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const g = canvas.current!.getContext("2d")!;
    g.globalCompositeOperation = eraser ? "destination-out" : "source-over";
    g.strokeStyle = "#f43f5e"; // any opaque paint counts as "change here" (the server reads the alpha)
    g.lineCap = "round";
    g.lineJoin = "round";
    g.lineWidth = size;
    g.beginPath();
    g.moveTo(from.x, from.y);
    g.lineTo(to.x + 0.01, to.y);
    g.stroke();
  };

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <label className="flex items-center gap-2">
          Brush size
          <input aria-label="Brush size" type="range" min={4} max={Math.max(64, Math.round(Math.min(width, height) / 3))} value={size} onChange={(e) => setSize(Number(e.target.value))} />
          <span className="tabular-nums text-neutral-400">{size}px</span>
        </label>
        <button type="button" aria-pressed={eraser} onClick={() => setEraser((v) => !v)} className={"rounded px-2 py-1 " + (eraser ? "bg-amber-600 text-black" : "bg-neutral-800")}>
          Eraser
        </button>
        <button
          type="button"
          disabled={!history.length}
          onClick={() => {
            const c = canvas.current!;
            const last = history[history.length - 1];
            if (!last) return;
            c.getContext("2d")!.putImageData(last, 0, 0);
            setHistory((h) => h.slice(0, -1));
            if (history.length === 1) setPainted(false);
          }}
          className="rounded bg-neutral-800 px-2 py-1 disabled:opacity-40"
        >
          Undo
        </button>
        <button type="button" onClick={() => { const c = canvas.current!; c.getContext("2d")!.clearRect(0, 0, width, height); setHistory([]); setPainted(false); }} className="rounded bg-neutral-800 px-2 py-1">
          Clear mask
        </button>
        <span data-testid="mask-state" className="text-neutral-400">{painted ? `mask painted (${history.length} strokes)` : "paint where the image should change"}</span>
      </div>
      <div className="relative inline-block max-w-full">
        <img src={src} alt="Image to edit" className="block max-h-[60vh] max-w-full select-none" draggable={false} />
        <canvas
          ref={canvas}
          data-testid="mask-canvas"
          width={width}
          height={height}
          className="absolute inset-0 h-full w-full cursor-crosshair opacity-60 [image-rendering:pixelated]"
          onPointerDown={(e) => {
            const c = canvas.current!;
            c.setPointerCapture(e.pointerId);
            const before = c.getContext("2d")!.getImageData(0, 0, width, height); // taken now, before the stroke
            setHistory((h) => [...h.slice(-29), before]);
            const p = point(e);
            drawing.current = p;
            stroke(p, p);
            setPainted(true);
          }}
          onPointerMove={(e) => {
            if (!drawing.current) return;
            const p = point(e);
            stroke(drawing.current, p);
            drawing.current = p;
          }}
          onPointerUp={() => (drawing.current = null)}
        />
      </div>
    </div>
  );
});
