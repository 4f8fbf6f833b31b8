import { useEffect, useState, useSyncExternalStore } from "react";
import { liveConnection, type LiveConnection } from "../api/live";

export function useConnectionState(): "connecting" | "connected" | "lost" {
  const [live, setLive] = useState<LiveConnection | null>(null);
  useEffect(() => {
    void liveConnection().then(setLive);
  }, []);
  return useSyncExternalStore(
    (cb) => (live ? live.onStateChange(cb) : () => {}),
    () => live?.state ?? "connecting",
  );
}

/** Says when the live connection to the server is lost; it reconnects by itself. */
export function ConnectionBanner() {
  const state = useConnectionState();
  if (state !== "lost") return null;
  return (
    <div
      role="alert"
      className="sticky top-0 z-40 flex items-center justify-center gap-2 bg-red-900/90 px-4 py-2 text-sm text-red-50 backdrop-blur"
    >
      <span className="inline-block h-2 w-2 animate-pulse rounded-full bg-red-300" aria-hidden />
      Connection to the server lost. Reconnecting… Your jobs keep running and will catch up.
    </div>
  );
}
