// Forward simulation, measurement and the adjoint sweep over a whole batch.
#pragma once

#include "batch.hpp"

namespace qml {

// Rows on fewer qubits than kRowParallelAlwaysBelowQubits run in parallel, one row per
// thread. So do rows of up to kRowParallelMaxQubits when a call holds at least
// kRowsPerThreadForParallel of them per thread; otherwise these, and all wider rows, run
// one at a time with every thread inside each kernel. On the 2-core AVX2 VM, the adjoint
// sweep of hea's 5 layers took a median 3.8 ms per row one per thread against 4.9 ms
// with both threads in each gate at 16 qubits (batch 100), 16.3 against 16.9 ms at 18
// (batch 10); at 20 qubits (4 layers) one per thread lost, 80-121 against 56-96 ms
// (docs/native-core.md, "Rows of 14 to 18 qubits").
constexpr int kRowParallelAlwaysBelowQubits = 14;
constexpr int kRowParallelMaxQubits = 18;
constexpr int kRowsPerThreadForParallel = 4;
// Rows of at most this many qubits that share their pieces with at least kMinLanes - 1
// other rows run kLanes at a time, one per SIMD lane (see kernels.hpp). Measured on
// 1,000-row batches: 1.1x the speed of row by row at 4 qubits, 2x at 10, 3.8x at 14 and
// 2.7x at 16; at 18 the sixteen states no longer fit the cache and lanes lose. A group
// at least half full pays for its unused lanes.
constexpr int kLaneMaxQubits = 16;
constexpr int kMinLanes = 8;
// The adjoint sweep streams two lane states per gate, 16 MB per thread at 16 qubits.
// On the AVX2 VM, rows of hea's 5 layers, batch 100: lanes took 8.9 ms per row to
// sweep at 16 qubits and 3.6 at 15, row by row 6.8 and 3.0; at 14 lanes still won
// (1.2 against 1.4 ms, batch 32). So the sweep runs lanes up to 14 qubits.
constexpr int kAdjointLaneMaxQubits = 14;

// Rows of kTiledMinQubits or more run their consecutive ops on the low kTileQubits
// bits tile by tile (256 KiB of one state), at most kMaxTileOps at a time. On the AVX2
// VM (L2 1 MiB per core), hea's 4 layers on 20 qubits, one row at a time: the adjoint
// sweep took 75-82 against 115-118 ms per row, the forward pass 22-24 against 24-26;
// on 22 qubits 400-433 against 604-656 and 153-178 against 253-267. Tiles of 16 or 14
// qubits did no better (docs/native-core.md, "Tiles of wide rows").
constexpr int kTileQubits = 15;
constexpr int kTiledMinQubits = kTileQubits + 3;
constexpr int kMaxTileOps = 64;

// Simulates every row. Writes expectations [rows, num_operators] when not null, and
// each row's final state at states + state_offsets[row] when states is not null. A
// row with noise channels runs one trajectory, drawn from seeds[row] (seeds may be
// null for a batch without channels).
void forward(const Batch& batch, const std::uint64_t* seeds, double* expectations,
             cfloat* states, const std::int64_t* state_offsets);

// The adjoint sweep over rows without noise channels, with lambda = sum_k
// upstream[row, k] H_k psi. For every term of a parameterized op it adds
// d(sum upstream * <H>)/d(phase) to phase_gradients[piece phase base + the term's
// phase column], so that the gradient array has the layout of the phases.
// final_states, when not null, holds each row's final state (as forward writes it);
// otherwise the sweep simulates the row first.
void adjoint(const Batch& batch, const double* upstream, const cfloat* final_states,
             const std::int64_t* state_offsets, double* phase_gradients);

// Simulates every row (one trajectory of a row with noise channels) and draws
// `repetitions` measurements of all its qubits from its final state, seeded by
// seeds[row]; writes bits[row, s, q] (shape [rows, repetitions,
// width]) for q below the row's qubit count, qubit 0 first, and leaves the rest.
void sample(const Batch& batch, const std::uint64_t* seeds, std::int64_t repetitions,
            std::int64_t width, std::int8_t* bits);

}  // namespace qml
