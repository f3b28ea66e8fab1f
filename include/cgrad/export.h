/* CG_API marks every public declaration.  The library is compiled with
 * hidden visibility, so exactly the functions declared with CG_API in the
 * public headers are exported from libcgrad.so (scripts/test_install.sh
 * checks it).  Static linking is unaffected. */
#ifndef CGRAD_EXPORT_H
#define CGRAD_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CG_API __attribute__((visibility("default")))
#else
#define CG_API
#endif

#endif
