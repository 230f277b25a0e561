-- etcd-medic-api: 2
-- base64 (RFC 4648) decoding, as Kubernetes stores a Secret's data: `base64.decode(s)` -> bytes, or nil and why.
-- Strict: the standard alphabet, padding to a multiple of 4, nothing else (the API server never sends line breaks).
local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local VALUE = {}
for i = 1, #ALPHABET do VALUE[ALPHABET:byte(i)] = i - 1 end

-- Three bytes (fewer at the end) from four characters of s at i.
local function quad(s, i, last)
	local a, b, c, d = s:byte(i, i + 3)
	local pad = (c == 61 and 2) or (d == 61 and 1) or 0 -- "="
	local va, vb, vc, vd = VALUE[a], VALUE[b], VALUE[c] or (pad == 2 and 0), VALUE[d] or (pad >= 1 and 0)
	if not (va and vb and vc and vd) or (pad > 0 and not last) or (pad == 2 and d ~= 61) then return nil end
	local n = ((va * 64 + vb) * 64 + vc) * 64 + vd
	local bytes = string.char(n >> 16, (n >> 8) & 255, n & 255)
	return bytes:sub(1, 3 - pad)
end

function M.decode(s)
	if type(s) ~= "string" then return nil, "base64: a string is needed, not a " .. type(s) end
	if #s % 4 ~= 0 then return nil, "base64: the length is not a multiple of 4" end
	local out = {}
	for i = 1, #s, 4 do
		local bytes = quad(s, i, i + 3 == #s)
		if not bytes then return nil, "base64: not base64 at byte " .. i end
		out[#out + 1] = bytes
	end
	return table.concat(out)
end

return M
