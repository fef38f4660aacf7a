function seed_rng(seed)
%SEED_RNG Seed the uniform and normal generators in MATLAB and GNU Octave.
%   SEED_RNG(SEED) makes rand, randi, randn and randperm reproducible.
%   SEED is a non-negative integer below 2^32.
if exist('OCTAVE_VERSION', 'builtin')
    rand('twister', double(seed));
    randn('twister', double(seed));
else
    rng(double(seed), 'twister');
end
end
