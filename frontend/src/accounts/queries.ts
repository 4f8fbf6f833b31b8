// TanStack Query hooks for keys, users and usage: each mutation refreshes what it changed.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { accountKeys, accountsApi, type Role, type Scope, type User, type UserPatch } from "./accountsApi";

export function useKeys(all: boolean) {
  return useQuery({ queryKey: accountKeys.keys(all), queryFn: () => accountsApi.keys(all) });
}

export function useCreateKey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; scopes: Scope[]; monthly_budget_usd: number | null }) => accountsApi.createKey(body),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["keys"] }),
  });
}

export function useRevokeKey() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: accountsApi.revokeKey, onSuccess: () => qc.invalidateQueries({ queryKey: ["keys"] }) });
}

export function useUsers() {
  return useQuery({ queryKey: accountKeys.users, queryFn: accountsApi.users });
}

export function useAddUser() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; password: string; role: Role }) => accountsApi.addUser(body),
    onSuccess: () => qc.invalidateQueries({ queryKey: accountKeys.users }),
  });
}

/** A change to a user shows at once (a role, "disabled", a budget) and goes back if refused. */
export function useUpdateUser() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, patch }: { id: string; patch: UserPatch }) => accountsApi.updateUser(id, patch),
    onMutate: async ({ id, patch }) => {
      await qc.cancelQueries({ queryKey: accountKeys.users });
      const before = qc.getQueryData<User[]>(accountKeys.users);
      const { password: _password, ...shown } = patch;
      qc.setQueryData<User[]>(accountKeys.users, (users) => users?.map((u) => (u.id === id ? { ...u, ...shown } : u)));
      return { before };
    },
    onError: (_e, _v, context) => qc.setQueryData(accountKeys.users, context?.before),
    onSettled: () => qc.invalidateQueries({ queryKey: accountKeys.users }),
  });
}

export function useDeleteUser() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: accountsApi.deleteUser, onSuccess: () => qc.invalidateQueries({ queryKey: accountKeys.users }) });
}

export function useUsage() {
  return useQuery({ queryKey: accountKeys.usage, queryFn: accountsApi.usage, staleTime: 10_000 });
}
