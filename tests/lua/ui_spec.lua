-- medic.ui: tables, pretty printing, marks, progress, colour only on a terminal.
local spec = require "spec"
local ui = require "medic.ui"
local json = require "medic.json"
local it, eq, q = spec.it, spec.eq, spec.q

it("ui.table aligns an array of records like etcdctl -w table", function()
	local t = ui.table({ { id = "8e9e05c52164694d", name = "m1", started = true },
		{ id = "91bc3c398fb3c146", name = "member-2", peer_urls = { "https://10.0.0.2:2380", "https://x:2380" } } })
	eq(t, table.concat({
		"+------------------+----------+--------------------------------------+---------+",
		"|        ID        |   NAME   |              PEER_URLS               | STARTED |",
		"+------------------+----------+--------------------------------------+---------+",
		"| 8e9e05c52164694d | m1       |                                      | true    |",
		"| 91bc3c398fb3c146 | member-2 | https://10.0.0.2:2380,https://x:2380 |         |",
		"+------------------+----------+--------------------------------------+---------+",
	}, "\n"))
	eq(ui.table({ { a = 1, b = 2 } }, { "b" }), "+---+\n| B |\n+---+\n| 2 |\n+---+")
end)

it("ui.format pretty-prints nested tables, quoting strings and keeping big IDs visibly strings", function()
	eq(ui.format({ b = { 1, 2 }, a = "x" }), '{ a = "x", b = { 1, 2 } }')
	eq(ui.format(json.decode('{"id": 15323219374994545507, "n": null, "e": [], "o": {}}')),
		'{ e = [], id = "15323219374994545507", n = null, o = {} }')
	local long = {}
	for i = 1, 30 do long["key" .. i] = "value number " .. i end
	local text = ui.format({ nested = long })
	spec.contains(text, "{\n  nested = {\n    key1 = \"value number 1\",\n")
	local cyclic = {}
	cyclic.me = cyclic
	spec.contains(ui.format(cyclic), "<cycle>")
	eq(ui.format(42), "42")
	eq(ui.format("a\nb"), "a\nb")
end)

it("ui.format never shows Secret data or credentials", function()
	local secret = json.decode('{"kind":"Secret","metadata":{"name":"etcd-peer-m1"},"type":"kubernetes.io/tls",'
		.. '"data":{"tls.key":"c2VjcmV0a2V5"}}')
	local text = ui.format(secret)
	spec.lacks(text, "c2VjcmV0a2V5")
	spec.contains(text, "etcd-peer-m1")
	spec.lacks(ui.format({ users = { { user = { token = "sha256~abc" } } } }), "sha256~abc")
	spec.lacks(ui.format({ items = { { metadata = { name = "s" }, type = "Opaque", data = { k = "djE=" } } } }), "djE=")
end)

it("marks, steps and progress print plain lines when stdout is not a terminal", function()
	local code, out, err = spec.medic("-e " .. q([[
local ui = require "medic.ui"
ui.step("Remove the member", 3, 9)
ui.ok("member list read")
ui.changed("member 8e9e05c52164694d removed")
ui.skipped("already done")
do
  local p <close> = ui.progress("waiting for etcd to stop")
  p:update("2 left"); p:update("2 left"); p:update("1 left")
end
ui.failed("did not stop")
]]))
	eq(code, 0)
	eq(out, table.concat({
		"==> [3/9] Remove the member",
		"    [ok]      member list read",
		"    [changed] member 8e9e05c52164694d removed",
		"    [skipped] already done",
		"waiting for etcd to stop ...",
		"  waiting for etcd to stop (2 left)",
		"  waiting for etcd to stop (1 left)",
		"    [ok]      waiting for etcd to stop",
		"",
	}, "\n"))
	eq(err, "    [FAILED]  did not stop\n")
end)

it("colour on a terminal only, never with NO_COLOR or --no-color", function()
	if not os.execute("command -v script >/dev/null") then return end
	local function on_tty(env, opts)
		local p = io.popen(("%s script -qec %s /dev/null"):format(env, q(q(spec.binary()) .. " " .. opts
			.. " -e 'require(\"medic.ui\").ok(\"hi\")'")))
		local s = p:read("a")
		p:close()
		return s
	end
	spec.contains(on_tty("", ""), "\27[32m")
	local p = io.popen(("script -qec %s /dev/null"):format(q(q(spec.binary())
		.. [[ -e 'local p = require("medic.ui").progress("waiting"); p:update("1 left"); p:done("ok")']])))
	local spun = p:read("a")
	p:close()
	spec.contains(spun, "\r\27[K/ waiting (1 left)", "spinner line on a terminal")
	spec.lacks(on_tty("NO_COLOR=1", ""), "\27[")
	spec.lacks(on_tty("", "--no-color"), "\27[")
	local _, out = spec.medic("-e " .. q("require('medic.ui').ok('hi')"))
	spec.lacks(out, "\27[")
end)

it("ui.wait polls with a deadline and shows the detail", function()
	local code, out = spec.medic("-e " .. q([[
local ui = require "medic.ui"
local n = 0
print(ui.wait("counting", function() n = n + 1; if n >= 3 then return "done", n end return false, n .. " so far" end,
	{ interval = 0.01 }))
print(ui.wait("never", function() return false, "still no" end, { timeout = 0.05, interval = 0.01 }))
]]))
	eq(code, 0)
	spec.contains(out, "counting ...\n  counting (1 so far)\n  counting (2 so far)\n    [ok]      counting\ndone\t3\n")
	spec.contains(out, "nil\tnever: not done after 0.05s (still no)\tTimeout")
end)

spec.done()
