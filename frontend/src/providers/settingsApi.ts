// The Providers page's calls: a provider's settings (never its key), saving them, the test
// button. A save refreshes the catalog at once; the providers feed tells other tabs.
import { useEffect } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { request } from "../api/client";
import { liveConnection } from "../api/live";
import type { ProviderSettings, ProviderTest } from "../api/schema.generated";

export type SettingsChange = Record<string, unknown>;

export const settingsKey = (id: string) => ["provider-settings", id] as const;

export function useProviderSettings(id: string) {
  return useQuery({
    queryKey: settingsKey(id),
    queryFn: () => request<ProviderSettings>("GET", `/api/providers/${encodeURIComponent(id)}/settings`),
    retry: false,
  });
}

export function useSaveSettings(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (change: SettingsChange) =>
      request<ProviderSettings>("PUT", `/api/providers/${encodeURIComponent(id)}/settings`, change),
    onSuccess: (answer) => {
      client.setQueryData(settingsKey(id), answer);
      void client.invalidateQueries({ queryKey: ["providers"] });
    },
  });
}

export function useTestProvider(id: string) {
  return useMutation({
    mutationFn: () => request<ProviderTest>("POST", `/api/providers/${encodeURIComponent(id)}/test`),
  });
}

/** Someone saved a provider's settings (this tab or another): show what is now true. */
export function useProvidersFeed(): void {
  const client = useQueryClient();
  useEffect(() => {
    const refresh = () => {
      void client.invalidateQueries({ queryKey: ["providers"] });
      void client.invalidateQueries({ queryKey: ["provider-settings"] });
    };
    let off: (() => void) | undefined;
    let alive = true;
    void liveConnection().then((live) => {
      if (!alive) return;
      const offFeed = live.subscribeFeed("providers", refresh);
      const offAgain = live.onResubscribed("providers", refresh); // the feed is not replayed
      off = () => {
        offFeed();
        offAgain();
      };
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [client]);
}
