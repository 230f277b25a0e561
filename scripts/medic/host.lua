-- etcd-medic-api: 2
-- TEMPORARY (engine branch): stands in for the C module medic.host until the layout branch lands.
local output = require "medic.output"
local core = require "medic.node.core"
local M = setmetatable({}, { __index = output })
M.uninterrupted = core.uninterrupted
return M
