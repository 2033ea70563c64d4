/* saccade: umbrella header. */
#ifndef SACCADE_H
#define SACCADE_H
#include "saccade/sc_error.h"
#include "saccade/sc_util.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_progress.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_npy.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_batcher.h"
#include "saccade/sc_datasets.h"
#include "saccade/sc_tensor.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_resnet.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_train.h"
#endif
