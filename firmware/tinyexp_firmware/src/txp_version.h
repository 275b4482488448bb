// Firmware identity; firmware/versions.json repeats it and a host test checks
// that the two agree.
#ifndef TXP_VERSION_H
#define TXP_VERSION_H

#define TXP_FW_VERSION "0.2.0"

#endif  // TXP_VERSION_H
