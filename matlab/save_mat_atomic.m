function save_mat_atomic(path, s)
%SAVE_MAT_ATOMIC Save the fields of struct S as variables of a MATLAB v7 file.
%   SAVE_MAT_ATOMIC(PATH, S) writes a MAT-file (readable by MATLAB and
%   SciPy, also when run in GNU Octave) under a temporary name in the
%   same folder, then renames it to PATH, so that PATH only ever holds a
%   complete file.
[folder, name, ext] = fileparts(path);
if isempty(folder)
    folder = '.';
end
tmp = fullfile(folder, ['.tmp_' name '_' int2str(getpid_safe()) ext]);
save('-v7', tmp, '-struct', 's');
[ok, msg] = movefile(tmp, path, 'f');
if ~ok
    error('save_mat_atomic:rename', 'could not rename %s to %s: %s', tmp, path, msg);
end
end

function pid = getpid_safe()
% Process id, to keep temporary names of concurrent writers apart.
if exist('OCTAVE_VERSION', 'builtin')
    pid = getpid();
else
    pid = feature('getpid');
end
end
