-- luacheck (Debian's lua-check) for `make lint`: every Lua file runs in etcd-medic's embedded Lua 5.4.
-- Scripts, specs, benches and site files see the standard library and `arg` only: the host sets no other
-- global (host/main.c). The REPL's etcd, k8s, node, json, ui and cluster exist only in the REPL, which no
-- file here runs in.
std = "lua54"
max_line_length = 120

-- luacheck adds busted's globals (describe, it, ...) to tests/**/*_spec.lua by default; our specs use
-- tests/lua/spec.lua instead, so a stray `it` would be an undefined global, not busted's.
files["**/tests/**/*_spec.lua"] = { std = "lua54" }

-- plain output, so that tools reading "Total: 0 warnings / 0 errors" see it as written
color = false
