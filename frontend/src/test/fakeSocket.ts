import type { JobEvent } from "../api/types";
import type { SocketLike } from "../api/live";

/** A scripted Socket.IO server: records what the client emits and answers subscribe. */
export class FakeSocket implements SocketLike {
  connected = false;
  handlers = new Map<string, ((...a: any[]) => void)[]>();
  emitted: [string, any][] = [];
  ackWith: ((payload: any) => any) | null = null;
  on(event: string, h: (...a: any[]) => void) {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), h]);
  }
  fire(event: string, payload?: any) {
    this.handlers.get(event)?.forEach((h) => h(payload));
  }
  emit(event: string, payload: any, ack?: (r: any) => void) {
    this.emitted.push([event, payload]);
    if (ack && this.ackWith) ack(this.ackWith(payload));
  }
  connect() {}
  up() {
    this.connected = true;
    this.fire("connect");
  }
  down() {
    this.connected = false;
    this.fire("disconnect", "transport close");
  }
  server(e: JobEvent) {
    const { type, ...payload } = e;
    this.fire(type, payload);
  }
}
