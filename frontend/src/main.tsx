import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { App } from "./App";
import { AccountGate } from "./accounts/account";
import { sessionId } from "./session/session";
import "./index.css";

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } },
});

// the tab's session exists from its first moment, before the accounts gate has its answer
sessionId();

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AccountGate>
        <App />
      </AccountGate>
    </QueryClientProvider>
  </StrictMode>,
);
