function save_mat_atomic(path, s, fmt)
%SAVE_MAT_ATOMIC Save the fields of struct S as variables of a MAT-file.
%   SAVE_MAT_ATOMIC(PATH, S) writes a MATLAB v7 file (compressed; readable
%   by MATLAB and SciPy, also when run in GNU Octave) under a temporary
%   name in the same folder, then renames it to PATH, so that PATH only
%   ever holds a complete file.
%   SAVE_MAT_ATOMIC(PATH, S, FMT) uses FMT instead of '-v7': '-v6' is the
%   uncompressed MATLAB format, several times faster to read back for
%   data that does not compress (clips of noisy signals).
if nargin < 3
    fmt = '-v7';
end
if ~any(strcmp(fmt, {'-v7', '-v6'}))
    error('save_mat_atomic:format', 'format must be -v7 or -v6, not %s', fmt);
end
[folder, name, ext] = fileparts(path);
if isempty(folder)
    folder = '.';
end
tmp = fullfile(folder, ['.tmp_' name '_' int2str(getpid_safe()) ext]);
save(fmt, tmp, '-struct', 's');
if exist('OCTAVE_VERSION', 'builtin')
    % rename(2): atomic, in place of Octave's movefile, which starts a shell
    % (about 15 ms a file: most of step 2's time when it writes hundreds of clips)
    [err, msg] = rename(tmp, path);
    ok = err == 0;
else
    [ok, msg] = movefile(tmp, path, 'f');
end
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
