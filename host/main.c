#include <curl/curl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "state.h"

/* Minimal first cut: -e CHUNK and run FILE. The full command line is issue 2. */
int main(int argc, char **argv)
{
	struct medic_options opts = {0};
	int status = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	lua_State *L = medic_state_new(&opts);
	if (argc >= 3 && strcmp(argv[1], "-e") == 0)
		status = luaL_loadstring(L, argv[2]);
	else if (argc >= 3 && strcmp(argv[1], "run") == 0)
		status = luaL_loadfile(L, argv[2]);
	else {
		fprintf(stderr, "usage: etcd-medic -e CHUNK | run FILE\n");
		return 2;
	}
	if (status == LUA_OK)
		status = medic_docall(L, 0, 0);
	if (status != LUA_OK)
		fprintf(stderr, "etcd-medic: %s\n", lua_tostring(L, -1));
	lua_close(L);
	curl_global_cleanup();
	return status == LUA_OK ? 0 : 1;
}
