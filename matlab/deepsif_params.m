function p = deepsif_params()
%DEEPSIF_PARAMS Parameters of the DeepSIF science for steps 2 and 4 (one home).
%   P = DEEPSIF_PARAMS() returns a struct. Sample counts are at the
%   downsampled rate of 500 Hz unless stated otherwise. Values are the
%   published ones (Sun et al., PNAS 2022, DeepSIF forward/ scripts).

% ---- Step 2: from raw TVB output to isolated, scaled spike clips --------
p.transient_samples = 1000;    % raw samples (2 kHz) dropped at the start: 500 ms transient
p.downsample_factor = 4;       % keep every 4th raw sample: 2 kHz -> 500 Hz
p.spike_threshold_mv = 8;      % y1-y2 above this (mV) counts as spiking activity
p.peak_margin_before = 249;    % a peak needs t-249 > 0 (room for its 500-sample window)
p.peak_margin_after = 250;     % and t+250 < T
p.min_peak_gap = 100;          % a peak within 100 samples of the previous peak is dropped
p.clip_length = 500;           % samples per saved clip (1 s at 500 Hz)
p.isolation_before = 200;      % no other region may peak from clip start-200 ...
p.isolation_after = 699;       % ... to clip start+699
p.snr_window = [-99 100];      % samples around each peak used for the SNR powers
p.rescale_threshold = 0.1;     % |x| below this (mV, mean removed) marks spike onset/end
p.rescale_threshold_step = 0.05; % raised by this until an onset/end is found
p.rescale_search = [50 450];   % window positions searched for onset/end
p.rescale_centre = 250;        % window position of the peak
p.rescale_trough = [301 400];  % window positions searched for the after-spike trough
p.mean_iterations = 0:2;       % TVB mean iterations (mu, noise) simulated per region

% ---- Step 4: synthetic source parameters --------------------------------
p.max_patch_size = 70;         % regions per source patch, padded to this length
p.pad_value = 15213;           % magic number for padding (NaN does not survive loadmat)
p.n_sources = 2;               % sources per example
p.sensor_snr_levels = [5 10 15 20]; % dB of white sensor noise, one example per level
p.patch_repetitions = 5;       % random patches grown per direction and layer count
p.layer2_bias = 0;             % selection bias for layer 2 in 2-layer patches
p.layer2_bias_3 = 0.1;         % selection bias for layer 2 in 3-layer patches
p.layer3_bias = -0.15;         % selection bias for layer 3 in 3-layer patches
p.direction_ratio = 1;         % scale of the direction-alignment probability
p.direction_fraction = 0.5;    % grow along ceil(this x n) of the n layer-1 directions
p.half_magnitude_mm = [40 60]; % distance (mm) where the patch magnitude falls to half, drawn once
p.sigma_factor = 0.8493;       % sigma = 0.8493 * half distance (exp(-d^2/2s^2) = 0.5 at d)
p.scale_window = [-50 50];     % reach around the clip peak for the SNR powers (clamped, see step 4)
p.modes.test = struct('nper', 10, 'n_iter', 3, 'target_snr', [10 15]);
p.modes.train = struct('nper', 100, 'n_iter', 48, 'target_snr', 10:2:20);
end
