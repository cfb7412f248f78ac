namespace LoraGen.Layers;

/// <summary>Runs an action once, when disposed: the end of a scope such as DisableAdapters.</summary>
internal sealed class OnDispose(Action action) : IDisposable
{
    private Action? _action = action;

    public void Dispose()
    {
        _action?.Invoke();
        _action = null;
    }
}
