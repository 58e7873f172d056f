/* Default data folders (datadir.h).  The build defines SITR_DATA_DIR, the
 * installed share/sitr, and, unless configured with
 * -DSITR_SOURCE_TREE_DATA=OFF (the Debian package, whose binaries then carry
 * no build path), SITR_BUILD_TREE and SITR_SOURCE_TREE.  The running
 * executable (/proc/self/exe, symbolic links resolved by the kernel) lies in
 * the build tree or it does not; nothing else is guessed.  Stateless. */
#include <sitr/datadir.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SITR_DATA_DIR
#define SITR_DATA_DIR "/usr/local/share/sitr"
#endif

#ifdef SITR_BUILD_TREE
/* 1 when this process runs an executable inside the build tree. */
static int in_build_tree(void)
{
    char exe[PATH_MAX], tree[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || !realpath(SITR_BUILD_TREE, tree))
        return 0;
    exe[n] = '\0';
    size_t len = strlen(tree);
    return strncmp(exe, tree, len) == 0 && exe[len] == '/';
}
#endif

const char *sitr_data_dir(sitr_data_t what)
{
#ifdef SITR_BUILD_TREE
    if (in_build_tree())
        return what == SITR_DATA_WEB ? SITR_SOURCE_TREE "/service/web"
                                     : SITR_SOURCE_TREE "/migrations";
#endif
    return what == SITR_DATA_WEB ? SITR_DATA_DIR "/web" : SITR_DATA_DIR "/migrations";
}
